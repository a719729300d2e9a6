"""``streamseg run`` with zones, lines and an MQTT broker, as a user runs it: the events reach a real
Mosquitto (one topic per source and type, zone counts retained), and mistakes are one line."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import av
import pytest

from tests.cli.test_main import assert_one_line_error, run_cli
from tests.conftest import FIXTURE_PT, VIDEOS, require_asset
from tests.notify.helpers import Broker, Subscriber, find_binary, free_port, wait_until

pytestmark = pytest.mark.slow

CAMERA = "door"


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clip = tmp_path_factory.mktemp("cctv") / "door.mp4"
    source = require_asset(VIDEOS / "street_pedestrians_720p30.mp4")
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(source), "-frames:v", "24", "-c:v", "libx264", str(clip)],
        check=True,
    )
    return clip


def _config(tmp_path: Path, clip: Path, zone: str = "[[0, 0.3], [0.5, 0.3], [0.5, 1], [0, 1]]") -> Path:
    path = tmp_path / "cctv.yaml"
    path.write_text(
        f"sources:\n  - uri: {clip}\n    name: {CAMERA}\n"
        f"    zones: [{{name: doorway, polygon: {zone}, classes: [person]}}]\n"
        "    lines: [{name: gate, points: [[640, 0], [640, 720]]}]\n"
        f"model: {{path: {require_asset(FIXTURE_PT)}, imgsz: 320}}\n"
    )
    return path


def test_events_reach_mqtt_and_the_events_file(tmp_path: Path, door: Path, engines_dir: Path) -> None:
    mosquitto = find_binary("mosquitto")
    if mosquitto is None:
        pytest.fail("the mosquitto broker is not installed (apt-get install mosquitto)")
    broker = Broker(mosquitto, tmp_path)
    broker.start()
    try:
        watcher = Subscriber(broker, "cctv/#")
        events = tmp_path / "events.jsonl"
        url = broker.url(prefix="cctv")
        proc = run_cli(
            "run",
            "--config",
            str(_config(tmp_path, door)),
            "--mqtt",
            url,
            "--events",
            str(events),
            "--engines-dir",
            str(engines_dir),
            "-q",
        )
        assert proc.returncode == 0, proc.stderr
        lines = [json.loads(line) for line in events.read_text().splitlines()]
        assert {"appeared", "entered", "crossed", "left"} <= {e["type"] for e in lines}
        wait_until(lambda: len(watcher.messages) >= len(lines), 10, "every event over MQTT")
        for kind in ("appeared", "entered", "crossed", "left"):
            sent = [e for e in lines if e["type"] == kind]
            got = [m.json() for m in watcher.on(f"cctv/{CAMERA}/{kind}")]
            assert got == sent and all(m.qos == 1 for m in watcher.on(f"cctv/{CAMERA}/{kind}"))
        counts = watcher.on(f"cctv/{CAMERA}/zones/doorway")
        assert counts and "count" in counts[-1].json()
        watcher.close()
        # retained: what a client that connects later (Home Assistant after a restart) is told at once
        later = Subscriber(broker, "cctv/#")
        wait_until(lambda: len(later.messages) >= 2, 5, "the retained messages")
        assert all(m.retain for m in later.messages)
        assert later.on(f"cctv/{CAMERA}/zones/doorway")[0].json() == counts[-1].json()
        assert later.payloads("cctv/availability") == ["offline"]  # the run ended
        later.close()
    finally:
        broker.stop()


def test_a_broker_that_is_down_is_a_warning_not_an_exit(
    tmp_path: Path, door: Path, engines_dir: Path
) -> None:
    events = tmp_path / "events.jsonl"
    proc = run_cli(
        "run",
        "--config",
        str(_config(tmp_path, door)),
        "--mqtt",
        f"mqtt://127.0.0.1:{free_port()}/x",
        "--events",
        str(events),
        "--engines-dir",
        str(engines_dir),
        "-q",
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "MQTT sink" in line]
    assert len(warnings) == 1 and "retrying in the background" in warnings[0], proc.stderr
    assert events.read_text().count("\n") > 10  # nothing else was lost


@pytest.mark.parametrize(
    ("zone", "flags", "needle"),
    [
        ("[[0, 0], [1, 1]]", [], "needs at least 3 points"),
        ("[[0, 0], [100, 100], [100, 0], [0, 100]]", [], "crosses itself"),
        ("[[0, 0], [1500, 0], [1500, 300]]", [], "point [1500, 0] is outside the 1280x720 frame"),
        (
            "[[0, 0], [1, 0], [1, 1]]",
            ["--mqtt", "mqtt://u:secret@127.0.0.1:99999/x"],
            "port must be 1..65535",
        ),
        ("[[0, 0], [1, 0], [1, 1]]", ["--webhook", "ftp://127.0.0.1/hook"], "--webhook"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(
    tmp_path: Path, door: Path, engines_dir: Path, zone: str, flags: list[str], needle: str
) -> None:
    proc = run_cli(
        "run", "--config", str(_config(tmp_path, door, zone)), *flags, "--engines-dir", str(engines_dir)
    )
    error = assert_one_line_error(proc, needle)
    assert proc.returncode == 2 and "secret" not in proc.stderr, error


def test_an_unknown_tracker_is_refused(door: Path) -> None:
    proc = run_cli("run", str(door), "--track", "sort")
    assert proc.returncode == 2 and "invalid choice: 'sort'" in proc.stderr


def test_event_clips_without_a_recording(tmp_path: Path, door: Path, engines_dir: Path) -> None:
    """``--clips`` alone: the source is encoded once for its clips; each event names its clip, which
    starts with a keyframe and plays."""
    clips, events = tmp_path / "clips", tmp_path / "events.jsonl"
    args = ["--clips", str(clips), "--pre-roll", "1s", "--post-roll", "1s", "--events", str(events)]
    proc = run_cli(
        "run", "--config", str(_config(tmp_path, door)), *args, "--engines-dir", str(engines_dir), "-q"
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    named = {e["clip"] for e in lines if "clip" in e}
    assert named and all(Path(p).parent == clips / CAMERA for p in named)
    assert sorted(p.name for p in (clips / CAMERA).iterdir()) == sorted(Path(p).name for p in named)
    assert not list(tmp_path.glob("*.mp4"))  # no recording was asked for
    for path in named:
        with av.open(path) as container:
            frames = list(container.decode(video=0))
        assert frames[0].key_frame and frames[0].pts == 0 and len(frames) >= 10


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--pre-roll", "90s"], "--pre-roll 90s is longer than the buffer allows (60 s)"),
        (["--post-roll", "soon"], "--post-roll must be a duration"),
        (["--publish", "http://u:secret@127.0.0.1/x"], "--publish: unsupported scheme 'http'"),
        (["--publish", "rtsp://127.0.0.1:70000/x"], "--publish:"),
    ],
)
def test_clip_and_publish_mistakes_are_one_line(
    tmp_path: Path, door: Path, flags: list[str], needle: str
) -> None:
    proc = run_cli("run", str(door), "--clips", str(tmp_path / "clips"), *flags)
    assert_one_line_error(proc, needle)
    assert proc.returncode == 2 and "secret" not in proc.stderr


def test_srt_where_ffmpeg_has_none_is_one_line(door: Path) -> None:
    from streamseg.record.publish import protocol_missing

    if not protocol_missing("srt"):
        pytest.skip("this PyAV's FFmpeg has SRT (tests/record/test_publish.py publishes over it)")
    proc = run_cli("run", str(door), "--publish", "srt://127.0.0.1:9000")
    assert_one_line_error(proc, "--publish srt://: the FFmpeg inside PyAV has no SRT protocol")
    assert proc.returncode == 2


def test_publish_to_an_rtsp_server_shows_the_overlay(tmp_path: Path, door: Path, engines_dir: Path) -> None:
    """``--publish rtsp://.../{source}``: the annotated video reaches a real RTSP server (FFmpeg's, taking
    ANNOUNCE/RECORD) and plays there, timestamps in order, masks and boxes drawn on it."""
    from tests.record.test_publish import Receiver

    port = free_port()
    received = Receiver(port, tmp_path / "received.ts", mount="door")
    try:
        url = f"rtsp://user:secret@127.0.0.1:{port}/{{source}}"
        args = ["--publish", url, "--engines-dir", str(engines_dir), "-q", "-v"]
        proc = run_cli("run", "--config", str(_config(tmp_path, door)), *args)
        assert proc.returncode == 0, proc.stderr
        assert "secret" not in proc.stderr
    finally:
        received.stop()
    with av.open(str(tmp_path / "received.ts")) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    with av.open(str(door)) as container:
        raw = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(frames) >= len(raw) // 2  # a file plays faster than real time; most of it arrives
    differences = [
        float(abs(a.astype(int) - b.astype(int)).mean()) for a, b in zip(frames, raw, strict=False)
    ]
    assert min(differences) > 2.0  # every frame carries the overlay (compression alone moves ~1)


def test_outputs_show_in_the_status_and_metrics(tmp_path: Path, door: Path, engines_dir: Path) -> None:
    """Recorded, clipped and published at once (one encode): the dashboard's status and ``/metrics``
    show the publisher's state, the clips written and the disk the source uses."""
    from tests.record.test_publish import Receiver
    from tests.web.helpers import cli_dashboard, get

    port = free_port()
    received = Receiver(port, tmp_path / "received.ts", mount="door")
    args = ["--config", str(_config(tmp_path, door)), "--loop", "--engines-dir", str(engines_dir), "-q"]
    args += ["--record", str(tmp_path / "out.mp4"), "--clips", str(tmp_path / "clips"), "--post-roll", "1s"]
    args += ["--publish", f"rtsp://127.0.0.1:{port}/{{source}}", "--dashboard", "127.0.0.1:0"]
    try:
        with cli_dashboard(args) as run:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:  # the first clip ends a post-roll after its event
                status = get(run.url + "api/status").json()
                # disk use is measured every few seconds: wait for a measure taken after the clip
                if status["clips"].get(CAMERA) and status["disk"].get(CAMERA, 0) > 10_000:
                    break
                time.sleep(0.5)
            metrics = get(run.url + "metrics").text
    finally:
        received.stop()
    publisher = status["publish"][CAMERA]
    assert publisher["state"] == "connected" and publisher["url"] == f"rtsp://127.0.0.1:{port}/door"
    assert status["clips"][CAMERA] >= 1 and status["disk"][CAMERA] > 10_000
    for needle in (
        f'streamseg_publish_up{{source="{CAMERA}"}} 1.0',
        f'streamseg_publish_packets_total{{source="{CAMERA}"}}',
        f'streamseg_clips_total{{source="{CAMERA}"}}',
        f'streamseg_disk_bytes{{source="{CAMERA}"}}',
        f'streamseg_live_viewers{{source="{CAMERA}"}} 0.0',
    ):
        assert needle in metrics, needle
