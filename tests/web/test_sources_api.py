"""``POST /api/sources`` and ``DELETE /api/sources/<name>`` on a running pipeline's dashboard: the token,
the answers to bad input (which change nothing), a removed source's recording finalized, the hosts a
stream may be added from and one answer for every stream that cannot be opened."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from streamseg import Pipeline
from streamseg.config import (
    ApiConfig,
    Config,
    DashboardConfig,
    ModelConfig,
    OutputConfig,
    PipelineConfig,
    SourceConfig,
    SourceRules,
)
from streamseg.telemetry import Telemetry
from streamseg.testing.media import read_video, write_video
from streamseg.testing.rtsp import free_port
from streamseg.web import Dashboard
from tests.web.helpers import Reply, get, send, serve_bytes

TOKEN = "sources-token-42"
SOURCE_TIMEOUT_S = 1.0
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def served(tmp_path: Path, random_seg_onnx: Path, engines_dir: Path) -> Iterator[tuple[str, Pipeline]]:
    """A looping one-source pipeline with its dashboard on loopback, a token demanded anyway."""
    with serving(tmp_path, random_seg_onnx, engines_dir) as both:
        yield both


@contextmanager
def serving(
    tmp_path: Path,
    model: Path,
    engines_dir: Path,
    listen: str = "127.0.0.1:0",
    source_hosts: tuple[str, ...] = (),
) -> Iterator[tuple[str, Pipeline]]:
    for name in ("a", "b"):
        write_video(tmp_path / f"{name}.mp4", n_frames=5, size_wh=(160, 96))
    cfg = Config(
        sources=(SourceConfig(str(tmp_path / "a.mp4")),),
        source_rules=SourceRules(max=3),
        model=ModelConfig(path=str(model), imgsz=160, batch=2, engines_dir=str(engines_dir)),
        output=OutputConfig(record=str(tmp_path / "out.mp4")),
        pipeline=PipelineConfig(loop=True, source_timeout_s=SOURCE_TIMEOUT_S),
        dashboard=DashboardConfig(listen=listen, token=TOKEN),
        api=ApiConfig(file_roots=(str(tmp_path),), source_hosts=source_hosts),
    )
    telemetry = Telemetry(gpu_index=None)
    dashboard = Dashboard(cfg, telemetry)
    pipeline = Pipeline(config=cfg, telemetry=telemetry, sinks=dashboard.sinks, live=dashboard.live).open()
    dashboard.start(pipeline)
    runner = threading.Thread(target=pipeline.run, daemon=True)
    runner.start()
    try:
        yield dashboard.url.replace("0.0.0.0", "127.0.0.1"), pipeline
    finally:
        dashboard.stop()
        pipeline.stop()
        runner.join(10)


def names(url: str) -> list[str]:
    return [s["name"] for s in get(url + "api/status", AUTH).json()["sources"]]


def test_add_and_remove_through_the_dashboard(served: tuple[str, Pipeline], tmp_path: Path) -> None:
    url, pipeline = served
    zone = {"name": "all", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}
    body = {"uri": str(tmp_path / "b.mp4"), "name": "door", "zones": [zone]}
    assert send("POST", url + "api/sources", body).status == 401  # state changes need the token
    assert send("DELETE", url + "api/sources/a").status == 401
    reply = send("POST", url + "api/sources", body, AUTH)
    assert (reply.status, reply.json()) == (201, {"name": "door", "added": True})
    assert names(url) == ["a", "door"]
    deadline = time.monotonic() + 30
    while pipeline.telemetry.snapshot()["sources"].get("door", {}).get("processed", 0) < 6:
        assert time.monotonic() < deadline, "the added source processes nothing"
        time.sleep(0.1)

    scene = get(url + "api/status", AUTH).json()["scene"]["sources"]
    assert scene["door"]["tracker"] == "bytetrack" and "all" in scene["door"]["zones"]  # its zone came too

    reply = send("DELETE", url + "api/sources/door", headers=AUTH)
    assert (reply.status, reply.json()) == (200, {"name": "door", "removed": True, "finalizing": False})
    assert names(url) == ["a"]
    assert get(url + "api/preview/door", AUTH).status == 404
    frames, codec, *_ = read_video(tmp_path / "out_door.mp4")  # finalized when DELETE answered
    assert codec == "h264" and len(frames) >= 6
    assert 'source="door"' not in get(url + "metrics", AUTH).text


def bad(url: str, method: str, path: str, body: object = None) -> Reply:
    return send(method, url + path, body, AUTH)


def test_bad_input_is_one_clear_4xx_and_changes_nothing(served: tuple[str, Pipeline], tmp_path: Path) -> None:
    url, pipeline = served
    clip = str(tmp_path / "b.mp4")
    cases = [
        (bad(url, "POST", "api/sources", {"uri": clip, "colour": "red"}), 400, "unknown config key 'colour'"),
        (bad(url, "POST", "api/sources", {"uri": str(tmp_path / "a.mp4")}), 409, "'a' is already running"),
        # another name, but the same files and MQTT topics as the running 'a' (one slug space, any case)
        (
            bad(url, "POST", "api/sources", {"uri": clip, "name": "A"}),
            409,
            "would share files and MQTT topics",
        ),
        (bad(url, "POST", "api/sources", {"uri": str(tmp_path / "nope.mp4")}), 422, "not a playable video"),
        (bad(url, "POST", "api/sources", {"uri": f"rtsp://u:pw@127.0.0.1:{free_port()}/x"}), 422, "u:***@"),
        (bad(url, "POST", "api/sources", {"name": "x"}), 400, "'uri' is missing"),
        (bad(url, "POST", "api/sources", ["a"]), 400, "JSON object"),
        (bad(url, "POST", "api/sources", b"{not json"), 415, "Content-Type: application/json"),
        (bad(url, "DELETE", "api/sources/zzz"), 404, "no source named 'zzz'"),
        (
            bad(
                url,
                "POST",
                "api/sources",
                {"uri": clip, "zones": [{"name": "z", "polygon": [[0, 0], [1, 1]]}]},
            ),
            400,
            "needs at least 3 points",
        ),
        (
            bad(
                url,
                "POST",
                "api/sources",
                {"uri": clip, "lines": [{"name": "l", "points": [[0, 0], [500, 50]]}]},
            ),
            400,
            "point [500, 50] is outside the 160x96 frame",
        ),
        (bad(url, "POST", "api/sources", {"uri": clip, "track": "sort"}), 400, "unknown tracker 'sort'"),
    ]
    for reply, status, message in cases:
        assert reply.status == status, reply.text
        error = reply.json()["error"]
        assert message in error and "\n" not in error and "Traceback" not in error
        assert ":pw@" not in reply.text
    assert names(url) == ["a"]
    assert pipeline.recordings == [str(tmp_path / "out.mp4")]
    assert not pipeline.stopping


def test_sources_are_clients_and_inputs_are_bounded(served: tuple[str, Pipeline], tmp_path: Path) -> None:
    """Issue 20, items 1, 2 and 6: listening URIs, foreign protocols, oversized and odd bodies; each a 4xx
    with one line, and the run goes on untouched."""
    url, pipeline = served
    post = "api/sources"
    raw = {"Content-Type": "application/json", **AUTH}
    cases = [
        (bad(url, "POST", post, {"uri": "tcp://0.0.0.0:18102?listen=1"}), 400, "'listen' makes it listen"),
        (bad(url, "POST", post, {"uri": "udp://@:5000"}), 400, "without a multicast group"),
        (bad(url, "POST", post, {"uri": "srt://:9000"}), 400, "listener"),
        (bad(url, "POST", post, {"uri": "rtmp://127.0.0.1/live?listen=2"}), 400, "allow_listen"),
        (bad(url, "POST", post, {"uri": "ftp://h/x.mp4"}), 400, "not a camera or stream protocol"),
        (bad(url, "POST", post, {"uri": "concat:a.mp4|b.mp4"}), 400, "protocol prefixes"),
        (bad(url, "POST", post, {"uri": "rtsp://cam/" + "a" * 5000}), 400, "longer than 4096 characters"),
        (
            bad(url, "POST", post, {"uri": "rtsp://cam/x", "name": "n" * 200}),
            400,
            "1-128 printable characters",
        ),
        (send("POST", url + post, b'{"uri": "rtsp://cam/x", "fps": Infinity}', raw), 400, "Infinity"),
        (send("POST", url + post, b"[" * 60_000, raw), 400, "nested too deeply"),
        (send("POST", url + post, b'{"uri": "' + b"a" * 1_000_000 + b'"}', raw), 413, "larger than 64 KiB"),
    ]
    for reply, status, message in cases:
        assert reply.status == status, reply.text
        error = reply.json()["error"]
        assert message in error and "\n" not in error and "Traceback" not in error
    assert names(url) == ["a"] and not pipeline.stopping


def test_local_files_only_from_the_roots_and_one_answer_for_missing_and_not_video(
    served: tuple[str, Pipeline], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    url, _ = served
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    write_video(elsewhere / "real.mp4", n_frames=3, size_wh=(160, 96))
    (tmp_path / "notes.mp4").write_text("not a video")
    outside = [bad(url, "POST", "api/sources", {"uri": str(elsewhere / n)}) for n in ("real.mp4", "none.mp4")]
    escape = bad(url, "POST", "api/sources", {"uri": str(tmp_path / ".." / elsewhere.name / "real.mp4")})
    inside = [bad(url, "POST", "api/sources", {"uri": str(tmp_path / n)}) for n in ("notes.mp4", "none.mp4")]
    for replies, status, message in (
        ([*outside, escape], 403, "local files can be added only from folders in api.file_roots"),
        (inside, 422, "not a playable video file under api.file_roots"),
    ):
        texts = {r.json()["error"].split(": ", 1)[1] for r in replies}
        assert [r.status for r in replies] == [status] * len(replies) and texts == {message}, texts
    assert names(url) == ["a"]


def test_the_source_limit_is_a_4xx_that_names_it(served: tuple[str, Pipeline], tmp_path: Path) -> None:
    url, _ = served
    for name in ("b1", "b2"):
        reply = bad(url, "POST", "api/sources", {"uri": str(tmp_path / "b.mp4"), "name": name})
        assert reply.status == 201, reply.text
    reply = bad(url, "POST", "api/sources", {"uri": str(tmp_path / "b.mp4"), "name": "b3"})
    assert reply.status == 409 and "sources.max = 3" in reply.json()["error"]
    assert names(url) == ["a", "b1", "b2"]


def test_a_removed_name_is_free_at_once(served: tuple[str, Pipeline], tmp_path: Path) -> None:
    url, pipeline = served
    body = {"uri": str(tmp_path / "b.mp4"), "name": "door"}
    for _ in range(3):
        assert bad(url, "POST", "api/sources", body).status == 201
        started = time.monotonic()
        reply = bad(url, "DELETE", "api/sources/door")
        assert reply.status == 200 and time.monotonic() - started < 5.0, reply.text
        assert names(url) == ["a"]
    assert len([p for p in pipeline.recordings if "door" in p]) == 3  # out_door.mp4, -2, -3: none overwritten


def test_a_stream_that_cannot_be_opened_gets_one_answer_after_one_wait(served: tuple[str, Pipeline]) -> None:
    """Issue 30, item 7: a closed port, a silent one, one that speaks no video, a name that does not
    resolve read the same (they said "Connection refused", "no answer within 1 s", "Invalid data found"),
    and none is answered sooner than a camera that does not answer."""
    url, _ = served
    silent = socket.create_server(("127.0.0.1", 0))
    page = serve_bytes(b"<html>an admin page</html>", "text/html")
    uris = [
        f"http://127.0.0.1:{free_port()}/x",
        f"http://127.0.0.1:{silent.getsockname()[1]}/x",
        f"http://127.0.0.1:{page.server_address[1]}/x",
        f"rtsp://127.0.0.1:{free_port()}/x",
        "http://nowhere.invalid/x",
    ]
    try:
        for uri in uris:
            began = time.monotonic()
            reply = bad(url, "POST", "api/sources", {"uri": uri, "name": "probe"})
            assert (reply.status, reply.json()) == (
                422,
                {"error": f"cannot open stream {uri}: not reachable"},
            )
            assert time.monotonic() - began >= SOURCE_TIMEOUT_S * 0.9, uri
    finally:
        page.shutdown()
        silent.close()
    assert names(url) == ["a"]


@pytest.fixture
def exposed(tmp_path: Path, random_seg_onnx: Path, engines_dir: Path) -> Iterator[tuple[str, Pipeline]]:
    """The dashboard on every interface (0.0.0.0), no ``api.source_hosts``."""
    with serving(tmp_path, random_seg_onnx, engines_dir, listen="0.0.0.0:0") as both:
        yield both


def test_off_loopback_streams_never_reach_this_machine(exposed: tuple[str, Pipeline]) -> None:
    """Issue 30, item 7: the dashboard reachable from the network must not be a way into this machine's
    loopback (a GET to any port) or the cloud's metadata address; names are judged by what they resolve
    to. Refused before any connection is made, and the run goes on."""
    url, pipeline = exposed
    listening = socket.create_server(("127.0.0.1", 0))
    listening.setblocking(False)
    port = listening.getsockname()[1]
    try:
        for uri in (
            f"http://127.0.0.1:{port}/x",
            f"rtsp://localhost:{port}/x",
            f"http://127.1:{port}/x",
            f"http://[::ffff:127.0.0.1]:{port}/x",
            f"tcp://0.0.0.0:{port}",
            "http://169.254.169.254/latest/meta-data/",
        ):
            reply = bad(url, "POST", "api/sources", {"uri": uri, "name": "probe"})
            assert reply.status == 403 and "this machine's own address" in reply.json()["error"], reply.text
        with pytest.raises(BlockingIOError):
            listening.accept()  # nobody knocked
    finally:
        listening.close()
    assert names(url) == ["a"] and not pipeline.stopping


def test_a_camera_on_this_machine_when_api_source_hosts_names_it(
    tmp_path: Path, random_seg_onnx: Path, engines_dir: Path
) -> None:
    write_video(tmp_path / "cam.mp4", n_frames=5, size_wh=(160, 96))
    camera = serve_bytes((tmp_path / "cam.mp4").read_bytes(), "video/mp4")
    port = camera.server_address[1]
    try:
        with serving(tmp_path, random_seg_onnx, engines_dir, "0.0.0.0:0", ("*", "127.0.0.1")) as (url, _):
            reply = bad(url, "POST", "api/sources", {"uri": f"http://127.0.0.2:{port}/cam.mp4"})
            assert reply.status == 403, reply.text  # loopback, but not the address named
            reply = bad(
                url, "POST", "api/sources", {"uri": f"http://127.0.0.1:{port}/cam.mp4", "name": "cam"}
            )
            assert reply.status == 201, reply.text
            assert names(url) == ["a", "cam"]
    finally:
        camera.shutdown()


def test_removed_sources_leave_the_status_and_every_metrics_series(
    served: tuple[str, Pipeline], tmp_path: Path
) -> None:
    """Issue 30, item 12: 20 add/remove cycles left 40 series (the live video's) of sources long gone."""
    url, pipeline = served
    for i in range(5):
        body = {"uri": str(tmp_path / "b.mp4"), "name": f"gone{i}"}
        assert bad(url, "POST", "api/sources", body).status == 201
        assert bad(url, "DELETE", f"api/sources/gone{i}").status == 200
    status = get(url + "api/status", AUTH).json()
    status.pop("finalizing")  # the one place a removed source may stay: while its recording finishes
    assert "gone" not in json.dumps(status)
    assert [line for line in get(url + "metrics", AUTH).text.splitlines() if "gone" in line] == []
    book = pipeline.live
    assert book is not None
    deadline = time.monotonic() + 10  # and their live channels, once their recordings are finished
    while any(book.channel(f"gone{i}") for i in range(5)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(book.channel(f"gone{i}") for i in range(5))
