"""An MJPEG-over-HTTP camera (multipart JPEG, the stream many cheap IP cameras serve), paced by ffmpeg.

Its frames carry no timestamps: FFmpeg counts them at 25 fps whatever the camera sends, here 15. The
recording must still play at real speed, so the stream's clock has to be caught running slow.
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from streamseg.testing.media import paced_test_pattern, read_video

from .conftest import LiveRun

pytestmark = pytest.mark.slow
FPS = 15


@pytest.fixture
def mjpeg_url() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/cam.mjpg"
    camera = paced_test_pattern("320x240", FPS, ["-f", "mpjpeg", "-q:v", "5", "-listen", "1", url])
    try:
        deadline = time.monotonic() + 10
        while not _listening(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        yield url
    finally:
        camera.kill()
        camera.wait(timeout=5)


def _listening(port: int) -> bool:
    """From /proc/net/tcp, not by connecting: ffmpeg's ``-listen 1`` serves the first client only."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(r.split()[1].endswith(f":{port:04X}") and r.split()[3] == "0A" for r in rows)


def test_mjpeg_camera_without_timestamps_records_at_real_speed(
    mjpeg_url: str, live_run: Callable[..., LiveRun], tmp_path: Path
) -> None:
    run = live_run([mjpeg_url], "--record", str(tmp_path / "out.mp4"))
    run.wait_for("10 s of frames", lambda: run.count() >= FPS * 10, timeout=60)
    assert run.stop(signal.SIGINT) < 3.0 and run.proc.returncode == 130, run.stderr
    assert "timestamps run slower than real time" in run.stderr
    times, codec, *_ = read_video(run.rec)
    assert codec == "h264" and len(times) >= len(run.results()) - 1  # all but maybe the last rendered
    # The camera sends exactly FPS frames a second and the source counts every one (dropped ones too),
    # so each recorded step must span (frames counted) / FPS seconds. FFmpeg's count gives 1/25 each.
    counted = np.diff([r["frame"] for r in run.results()][: len(times)])
    per_frame = np.diff(times) / counted
    later = per_frame[len(per_frame) // 2 :]  # well after the slow clock was caught (about 4 s in)
    assert float(np.median(later)) == pytest.approx(1 / FPS, rel=0.1)
