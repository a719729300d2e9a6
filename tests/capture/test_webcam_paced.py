"""The webcam path on a paced camera: ffmpeg writes MJPEG into a FIFO in real time, 15 frames a second.

There is no V4L2 device here, so the device is the one thing replaced: ``FifoCamera`` is the real
``WebcamSource`` whose capture opens the FIFO through OpenCV's FFmpeg backend instead of V4L2. Reading,
stamping, ``LiveSource``'s reconnects and clock, the pipeline's newest-frame queue and the recording are
the real ones.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamseg import Pipeline
from streamseg.capture import LiveSource
from streamseg.capture.live import ReconnectPolicy
from streamseg.capture.webcam import WebcamSource
from streamseg.config import Config, ModelConfig, OutputConfig, SourceConfig
from streamseg.testing.media import paced_test_pattern, read_video
from streamseg.types import Frame

pytestmark = pytest.mark.slow
FPS = 15


class FifoCamera(WebcamSource):
    """A ``WebcamSource`` whose device is a FIFO (V4L2 cannot open one; OpenCV's FFmpeg backend can)."""

    def _create_capture(self) -> cv2.VideoCapture:
        ms = int(self._timeout_s * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        return cv2.VideoCapture(str(self._device), cv2.CAP_FFMPEG, params)


class Camera:
    """ffmpeg's test pattern as MJPEG, written into ``fifo`` in real time; ``unplug()`` kills it."""

    def __init__(self, fifo: Path) -> None:
        self.fifo = fifo
        self._proc: subprocess.Popen[bytes] | None = None

    def plug_in(self) -> None:
        self._proc = paced_test_pattern("320x240", FPS, ["-f", "mjpeg", "-q:v", "5", "-y", str(self.fifo)])

    def unplug(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=5)
            self._proc = None

    def close(self) -> None:
        self.unplug()
        # A reader still waiting in open() for a writer is let go: it sees an empty stream.
        with contextlib.suppress(OSError):
            os.close(os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK))


@pytest.fixture
def camera(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Camera]:
    # OpenCV would probe the FIFO for 5 s before the first frame; a V4L2 camera needs no probing.
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "analyzeduration;200000|probesize;32768")
    fifo = tmp_path / "video0"
    os.mkfifo(fifo)
    cam = Camera(fifo)
    cam.plug_in()
    try:
        yield cam
    finally:
        cam.close()


def live_camera(fifo: Path) -> LiveSource:
    """What the factory builds for ``/dev/video0``, around the FIFO camera."""

    def webcam() -> FifoCamera:
        return FifoCamera(str(fifo), name="cam", width=320, height=240, fps=FPS, timeout_s=2.0)

    policy = ReconnectPolicy(initial_s=0.2, max_s=1.0)
    return LiveSource(webcam, name="cam", uri=str(fifo), policy=policy, eager=True)


class Reader:
    """Reads a source on its own thread, as the pipeline's capture thread does."""

    def __init__(self, src: LiveSource) -> None:
        self.src = src
        self.frames: list[Frame] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (frame := self.src.read()) is not None:
            self.frames.append(frame)

    def wait_for(self, n: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.frames) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.frames) >= n, f"{len(self.frames)} frames after {timeout:g} s, expected {n}"

    def stop(self) -> None:
        self.src.close()
        self._thread.join(timeout=5)
        assert not self._thread.is_alive()


def real_speed(frames: list[Frame]) -> float:
    """Presentation time that passed per second of arrival time."""
    return (frames[-1].pts - frames[0].pts) / (frames[-1].capture_time - frames[0].capture_time)


def test_a_paced_camera_plays_at_real_speed_and_comes_back_after_unplugging(camera: Camera) -> None:
    src = live_camera(camera.fifo)
    src.open()  # a webcam opens at once: a missing one is reported before anything starts
    reader = Reader(src)
    try:
        reader.wait_for(FPS * 8, timeout=12)
        first = reader.frames[: FPS * 8]
        arrived = first[-1].capture_time - first[0].capture_time
        assert arrived == pytest.approx(8 - 1 / FPS, abs=0.8)  # paced, not read as fast as possible
        assert src.resolution_wh == (320, 240) and src.health == "live"
        assert real_speed(first[FPS * 5 :]) == pytest.approx(1.0, abs=0.05)  # not 25/15 fps

        camera.unplug()
        deadline = time.monotonic() + 5
        while src.health != "reconnecting" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert src.health == "reconnecting"
        time.sleep(1.0)
        before = len(reader.frames)
        camera.plug_in()
        reader.wait_for(before + FPS * 4, timeout=10)
        assert src.reconnects == 1 and src.health == "live"
        after = reader.frames[before:]
        gap = after[0].pts - reader.frames[before - 1].pts
        assert gap > 1.0  # the outage shows as a gap of its length
        assert real_speed(after[FPS:]) == pytest.approx(1.0, abs=0.1)
        assert [f.index for f in reader.frames] == list(range(len(reader.frames)))
    finally:
        reader.stop()


def test_a_paced_camera_through_the_pipeline_records_at_real_speed(
    camera: Camera, tmp_path: Path, random_seg_onnx: Path, engines_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``streamseg run /dev/video0 --record``: newest-frame queue, masks, recording timed by the clock."""
    monkeypatch.setattr(
        "streamseg.pipeline.runner.open_source", lambda *_args, **_kw: _opened(live_camera(camera.fifo))
    )
    out = tmp_path / "cam.mp4"
    cfg = Config(
        sources=(SourceConfig("/dev/video0"),),
        model=ModelConfig(
            path=str(random_seg_onnx), imgsz=320, conf=0.5, batch=1, engines_dir=str(engines_dir)
        ),
        output=OutputConfig(record=str(out)),
    )
    pipeline = Pipeline(config=cfg)
    arrivals: list[float] = []
    counted: list[int] = []  # the source's frame numbers: every camera frame, dropped ones too
    for result in pipeline.results():
        arrivals.append(result.frame.capture_time)
        counted.append(result.frame_index)
        if arrivals[-1] - arrivals[0] >= 8.0:
            pipeline.stop()
    recorded, codec, *_ = read_video(out)
    assert codec == "h264" and len(recorded) >= len(arrivals) - 1  # all but maybe the last rendered
    per_frame = np.diff(recorded) / np.diff(counted[: len(recorded)])
    assert float(np.median(per_frame)) == pytest.approx(1 / FPS, rel=0.15)
    assert recorded[-1] - recorded[0] == pytest.approx(arrivals[-1] - arrivals[0], abs=0.5)
    snapshot = pipeline.telemetry.snapshot()
    assert snapshot["sources"]["cam"]["health"] == "ended"


def _opened(src: LiveSource) -> LiveSource:
    src.open()
    return src
