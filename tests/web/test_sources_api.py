"""``POST /api/sources`` and ``DELETE /api/sources/<name>`` on a running pipeline's dashboard: the token,
the answers to bad input (which change nothing), and a removed source's recording finalized."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamseg import Pipeline
from streamseg.config import Config, DashboardConfig, ModelConfig, OutputConfig, PipelineConfig, SourceConfig
from streamseg.telemetry import Telemetry
from streamseg.web import Dashboard
from tests.live.server import free_port
from tests.media import read_video, write_video
from tests.web.helpers import Reply, get, send

TOKEN = "sources-token-42"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def served(tmp_path: Path, random_seg_onnx: Path, engines_dir: Path) -> Iterator[tuple[str, Pipeline]]:
    """A looping one-source pipeline with its dashboard on loopback, a token demanded anyway."""
    for name in ("a", "b"):
        write_video(tmp_path / f"{name}.mp4", n_frames=5, size_wh=(160, 96))
    cfg = Config(
        sources=(SourceConfig(str(tmp_path / "a.mp4")),),
        model=ModelConfig(path=str(random_seg_onnx), imgsz=160, batch=2, engines_dir=str(engines_dir)),
        output=OutputConfig(record=str(tmp_path / "out.mp4")),
        pipeline=PipelineConfig(loop=True),
        dashboard=DashboardConfig(listen="127.0.0.1:0", token=TOKEN),
    )
    telemetry = Telemetry(gpu_index=None)
    dashboard = Dashboard(cfg, telemetry)
    pipeline = Pipeline(config=cfg, telemetry=telemetry, sinks=dashboard.sinks).open()
    dashboard.start(pipeline)
    runner = threading.Thread(target=pipeline.run, daemon=True)
    runner.start()
    try:
        yield dashboard.url, pipeline
    finally:
        dashboard.stop()
        pipeline.stop()
        runner.join(10)


def names(url: str) -> list[str]:
    return [s["name"] for s in get(url + "api/status", AUTH).json()["sources"]]


def test_add_and_remove_through_the_dashboard(served: tuple[str, Pipeline], tmp_path: Path) -> None:
    url, pipeline = served
    body = {"uri": str(tmp_path / "b.mp4"), "name": "door"}
    assert send("POST", url + "api/sources", body).status == 401  # state changes need the token
    assert send("DELETE", url + "api/sources/a").status == 401
    reply = send("POST", url + "api/sources", body, AUTH)
    assert (reply.status, reply.json()) == (201, {"name": "door", "added": True})
    assert names(url) == ["a", "door"]
    deadline = time.monotonic() + 30
    while pipeline.telemetry.snapshot()["sources"].get("door", {}).get("processed", 0) < 6:
        assert time.monotonic() < deadline, "the added source processes nothing"
        time.sleep(0.1)

    reply = send("DELETE", url + "api/sources/door", headers=AUTH)
    assert (reply.status, reply.json()) == (200, {"name": "door", "removed": True})
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
        (bad(url, "POST", "api/sources", {"uri": str(tmp_path / "nope.mp4")}), 422, "nope.mp4"),
        (bad(url, "POST", "api/sources", {"uri": f"rtsp://u:pw@127.0.0.1:{free_port()}/x"}), 422, "u:***@"),
        (bad(url, "POST", "api/sources", {"name": "x"}), 400, "'uri' is missing"),
        (bad(url, "POST", "api/sources", ["a"]), 400, "JSON object"),
        (bad(url, "POST", "api/sources", b"{not json"), 415, "Content-Type: application/json"),
        (bad(url, "DELETE", "api/sources/zzz"), 404, "no source named 'zzz'"),
    ]
    for reply, status, message in cases:
        assert reply.status == status, reply.text
        error = reply.json()["error"]
        assert message in error and "\n" not in error and "Traceback" not in error
        assert ":pw@" not in reply.text
    assert names(url) == ["a"]
    assert pipeline.recordings == [str(tmp_path / "out.mp4")]
    assert not pipeline.stopping
