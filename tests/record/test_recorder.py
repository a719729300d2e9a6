"""Recording in parallel (``render/recorder``): one encoder thread per source, yuv420p straight from the
GPU path, live frames dropped (never stalling the others) when an encoder falls behind, errors that
surface, and the choice of encoder (``render/encoders``)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from streamseg.errors import ConfigError, OutputError
from streamseg.gpu.picture import I420Picture
from streamseg.record import VideoWriter
from streamseg.record.encoders import NVENC, X264, choose_encoder, encoder_options, nvenc_problem
from streamseg.record.recorder import SourceRecorder
from tests.record.test_writer import decode, picture

PTS = [i / 10 for i in range(12)]


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


class SlowWriter(VideoWriter):
    """A real writer that also sleeps per frame: an encoder that cannot keep up."""

    delay_s = 0.05

    def write_i420(self, yuv: np.ndarray, pts_seconds: float, captured: float | None = None) -> None:
        time.sleep(self.delay_s)
        super().write_i420(yuv, pts_seconds, captured)


def test_sources_encode_in_parallel_threads(tmp_path: Path) -> None:
    """Each source's encoder works on its own thread, concurrently; every file is complete and keeps
    its timestamps."""
    started: dict[str, set[str]] = {"a": set(), "b": set()}
    seen_together = threading.Event()

    class Watching(VideoWriter):
        def write(self, image: np.ndarray, pts_seconds: float, captured: float | None = None) -> None:
            name = threading.current_thread().name
            started[self.path.stem].add(name)
            if all(started.values()):
                seen_together.set()
            super().write(image, pts_seconds, captured)

    recorders = [
        SourceRecorder(Watching(tmp_path / f"{name}.mp4", fps_hint=10), name, lossless=True)
        for name in ("a", "b")
    ]
    for i, t in enumerate(PTS):
        for r in recorders:
            r.submit(picture(i), t)
    for r in recorders:
        r.close()
    assert started == {"a": {"encode-a"}, "b": {"encode-b"}}
    assert seen_together.is_set()
    for name in ("a", "b"):
        pts, _ = decode(tmp_path / f"{name}.mp4")
        assert pts == pytest.approx(PTS, abs=1e-4)


def test_yuv420p_input_encodes_like_bgr(tmp_path: Path) -> None:
    """The GPU path hands over yuv420p: the same recording as BGR converted on the CPU."""
    for name, as_i420 in (("bgr", False), ("i420", True)):
        with VideoWriter(tmp_path / f"{name}.mp4", fps_hint=10) as writer:
            for i, t in enumerate(PTS):
                img = picture(i)
                if as_i420:
                    writer.write_i420(cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420), t)
                else:
                    writer.write(img, t)
    a, b = _frames(tmp_path / "bgr.mp4"), _frames(tmp_path / "i420.mp4")
    assert len(a) == len(b) == len(PTS)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_yuv420p_of_another_size_is_resized(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "s.mp4", fps_hint=10) as writer:
        writer.write_i420(cv2.cvtColor(picture(0), cv2.COLOR_BGR2YUV_I420), 0.0)
        writer.write_i420(cv2.cvtColor(picture(1, 60, 80), cv2.COLOR_BGR2YUV_I420), 0.1)
        with pytest.raises(ValueError, match="yuv420p"):
            writer.write_i420(np.zeros((10, 15), np.uint8), 0.2)
    assert writer.resized_frames == 1
    assert len(_frames(tmp_path / "s.mp4")) == 2


def test_a_slow_live_encoder_drops_instead_of_blocking(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Live: a full queue leaves frames out of that recording (counted, one warning) at once."""
    recorder = SourceRecorder(
        SlowWriter(tmp_path / "live.mp4", fps_hint=10), "cam", lossless=False, queue_frames=2
    )
    yuv = cv2.cvtColor(picture(0), cv2.COLOR_BGR2YUV_I420)
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING):
        for i in range(20):
            recorder.submit(I420Picture(yuv), i / 10)
    assert time.perf_counter() - started < 20 * SlowWriter.delay_s / 2  # never waited on the encoder
    recorder.close()
    written = recorder.writer.frames_written
    assert recorder.dropped > 0 and written + recorder.dropped == 20
    assert sum("falls behind" in r.message for r in caplog.records) == 1
    assert len(decode(tmp_path / "live.mp4")[0]) == written


def test_a_slow_file_encoder_applies_back_pressure(tmp_path: Path) -> None:
    """Files are lossless: submit waits for room; every frame is recorded."""
    recorder = SourceRecorder(
        SlowWriter(tmp_path / "file.mp4", fps_hint=10), "f", lossless=True, queue_frames=2
    )
    yuv = cv2.cvtColor(picture(0), cv2.COLOR_BGR2YUV_I420)
    started = time.perf_counter()
    for i in range(8):
        recorder.submit(I420Picture(yuv), i / 10)
    assert time.perf_counter() - started >= 4 * SlowWriter.delay_s
    recorder.close()
    assert recorder.dropped == 0 and recorder.writer.frames_written == 8


def test_an_encoder_error_reaches_the_caller(tmp_path: Path) -> None:
    class Failing(VideoWriter):
        def write(self, image: np.ndarray, pts_seconds: float, captured: float | None = None) -> None:
            raise OutputError(f"cannot write recording {self.path}: No space left on device")

    recorder = SourceRecorder(Failing(tmp_path / "x.mp4", fps_hint=10), "x", lossless=True)
    recorder.submit(picture(0), 0.0)
    with pytest.raises(OutputError, match="No space left"):
        for i in range(1, 50):
            recorder.submit(picture(i), i / 10)
            time.sleep(0.01)
    recorder.close()  # the error was raised once; closing finishes cleanly


def test_encoder_choice_on_a_machine_without_nvenc(caplog: pytest.LogCaptureFixture) -> None:
    """Here (no NVIDIA driver) NVENC does not open: auto falls back with one line, nvenc is an error."""
    if nvenc_problem() is None:
        pytest.skip("this machine has a working NVENC; the fallback cannot be seen here")
    assert choose_encoder("x264", on_gpu=True) == X264
    assert choose_encoder("auto", on_gpu=False) == X264
    with caplog.at_level(logging.INFO):
        assert choose_encoder("auto", on_gpu=True) == X264
    assert sum("NVENC does not open" in r.message for r in caplog.records) == 1
    with pytest.raises(ConfigError, match="--encoder nvenc: NVENC does not open"):
        choose_encoder("nvenc", on_gpu=True)


def test_encoder_options() -> None:
    assert encoder_options(X264, 23, "veryfast", True, 2) == {
        "crf": "23",
        "preset": "veryfast",
        "bf": "0",
        "tune": "zerolatency",
        "threads": "2",
    }
    nv = encoder_options(NVENC, 23, "veryfast", False, 0)
    assert nv["preset"] == "p2" and nv["cq"] == "23" and nv["bf"] == "0"


def test_pending_text_is_drawn_once_by_the_encoder_thread(tmp_path: Path) -> None:
    """A GPU-path picture arrives with its labels still to draw: the source's encoder thread draws them
    (not the render thread), once, before encoding; a later reader (the dashboard) sees them done."""
    drawn_on: list[str] = []

    def draw(picture: I420Picture) -> None:
        drawn_on.append(threading.current_thread().name)
        y, _, _ = picture.planes()
        y[:8, :8] = 255

    yuv = cv2.cvtColor(np.zeros((48, 64, 3), np.uint8), cv2.COLOR_BGR2YUV_I420)
    picture = I420Picture(yuv, pending=draw)
    recorder = SourceRecorder(VideoWriter(tmp_path / "t.mp4", fps_hint=10), "cam", lossless=True)
    recorder.submit(picture, 0.0)
    recorder.close()
    assert drawn_on == ["encode-cam"]
    assert picture.bgr()[0, 0].min() > 200 and drawn_on == ["encode-cam"]
    (frame,) = _frames(tmp_path / "t.mp4")
    assert frame[2, 2].min() > 180  # the recording has the text
