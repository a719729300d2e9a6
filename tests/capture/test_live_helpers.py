"""Password redaction, names from URLs, backoff, and the live clock."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from streamseg.capture.backoff import Backoff, probe_address, wait
from streamseg.capture.live_clock import LiveClock
from streamseg.config import default_source_name
from streamseg.redact import redact_text, redact_uri


@pytest.mark.parametrize(
    ("uri", "redacted"),
    [
        ("rtsp://admin:hunter2@10.0.0.5:554/Streaming/101", "rtsp://admin:***@10.0.0.5:554/Streaming/101"),
        ("rtsp://admin:p@ss@cam/x", "rtsp://admin:***@cam/x"),  # '@' inside the password
        ("rtsps://u:pw@cam", "rtsps://u:***@cam"),
        ("http://cam/video.mjpg?user=a&password=pw", "http://cam/video.mjpg?user=a&password=***"),
        ("rtsp://cam:554/live", "rtsp://cam:554/live"),
        ("street.mp4", "street.mp4"),
    ],
)
def test_redact_uri(uri: str, redacted: str) -> None:
    assert redact_uri(uri) == redacted


def test_redact_text_inside_messages() -> None:
    text = "cannot open rtsp://u:pw1@a/x and rtsp://v:pw2@b/y: refused"
    assert redact_text(text) == "cannot open rtsp://u:***@a/x and rtsp://v:***@b/y: refused"


@pytest.mark.parametrize(
    ("uri", "name"),
    [
        ("rtsp://admin:secret@10.0.0.5:554/stream1", "stream1"),
        ("rtsp://admin:secret@cam.local", "cam.local"),
        ("rtsp://admin:secret@cam.local:554/", "cam.local"),
        ("https://h/live/index.m3u8?token=abc", "index"),
        ("0", "cam0"),
    ],
)
def test_names_never_carry_credentials(uri: str, name: str) -> None:
    assert default_source_name(uri) == name


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    plain = Backoff(0.5, 4.0, jitter=0.0)
    assert [plain.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    plain.reset()
    assert plain.next_delay() == 0.5
    low, high = Backoff(1.0, 10.0, 0.2, rng=lambda: 0.0), Backoff(1.0, 10.0, 0.2, rng=lambda: 1.0)
    assert low.next_delay() == pytest.approx(0.8) and high.next_delay() == pytest.approx(1.2)
    assert Backoff(8.0, 8.0, 0.5, rng=lambda: 1.0).next_delay() == 8.0  # jitter never exceeds the cap


def test_probe_address() -> None:
    assert probe_address("rtsp://u:p@cam:8554/x") == ("cam", 8554)
    assert probe_address("rtsp://cam/x") == ("cam", 554)
    assert probe_address("street.mp4") is None


def test_wait_ends_when_a_closed_port_opens() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    opened = threading.Event()
    calls = {"n": 0}

    def probe(address: tuple[str, int]) -> bool:
        calls["n"] += 1
        return opened.is_set()

    threading.Timer(0.3, opened.set).start()
    started = time.monotonic()
    assert wait(10.0, threading.Event(), ("127.0.0.1", port), probe)
    assert time.monotonic() - started < 1.0


def test_wait_stops_on_stop() -> None:
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    assert not wait(10.0, stop)
    assert time.monotonic() - started < 0.6


def test_live_clock_follows_the_stream_and_reanchors() -> None:
    clock = LiveClock(max_behind_s=2.0, max_ahead_s=30.0)
    assert clock.pts(500.0, 10.0) == 0.0
    assert clock.pts(500.1, 10.1) == pytest.approx(0.1)
    assert clock.pts(500.2, 10.25) == pytest.approx(0.2)  # arrival jitter ignored: stream clock wins
    assert clock.pts(None, 10.4) == pytest.approx(0.4)  # missing: wall clock
    assert clock.pts(9000.0, 10.5) == pytest.approx(0.5)  # jump: re-anchored to the wall clock
    assert clock.rebased == 1
    assert clock.pts(9000.1, 14.0) == pytest.approx(4.0)  # 3.4 s stall on one connection: a gap
    assert clock.rebased == 2
    clock.reset()  # reconnect: the stream restarts at 0, 7 s later
    assert clock.pts(0.0, 17.5) == pytest.approx(7.5)
    assert clock.pts(0.0, 17.5) > 7.5  # never repeats


def test_live_clock_keeps_bursty_hls_timing() -> None:
    """A 2 s HLS segment arrives in 50 ms: its frames keep their own spacing, not the arrival times."""
    clock = LiveClock()
    out = [clock.pts(i / 15, 5.0 + i * 0.001) for i in range(30)]
    assert out == pytest.approx([i / 15 for i in range(30)])


def test_live_clock_stops_trusting_timestamps_that_run_slow() -> None:
    """Raw MJPEG: FFmpeg counts 25 fps while the camera sends 15; the file must still play at real speed."""
    clock = LiveClock()
    out = [clock.pts(i / 25, 100.0 + i / 15) for i in range(150)]  # 10 s of frames
    assert not clock.trusted
    steps = np.diff(out[90:])  # from 6 s on
    assert steps == pytest.approx([1 / 15] * len(steps))
    assert out[-1] == pytest.approx(149 / 15)  # ends where real time is, without a jump
    clock.reset()  # a reconnect gives the stream's clock another chance
    assert clock.trusted


def test_live_clock_trusts_a_stream_through_a_network_hiccup() -> None:
    """Frames held up for 1.5 s and then delivered in a burst keep their own timestamps."""
    clock = LiveClock()
    times = [(i / 30, 50.0 + i / 30) for i in range(90)]
    times += [(i / 30, 54.5 + (i - 90) * 0.001) for i in range(90, 135)]  # late, then caught up
    times += [(i / 30, 50.0 + i / 30) for i in range(135, 300)]
    out = [clock.pts(s, a) for s, a in times]
    assert clock.trusted and clock.rebased == 0
    assert out == pytest.approx([s for s, _ in times])
