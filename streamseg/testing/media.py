"""Test media: videos generated with PyAV (small, deterministic, known timestamps), paced ffmpeg producers,
and this process's native threads."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def synthetic_frame(i: int, width: int, height: int) -> np.ndarray:
    """A textured background with a few moving blobs, so a network has something to respond to."""
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = (xx * 255 // max(width - 1, 1)).astype(np.uint8)
    image[..., 1] = (yy * 255 // max(height - 1, 1)).astype(np.uint8)
    image[..., 2] = ((xx + yy + 7 * i) % 256).astype(np.uint8)
    for k in range(3):
        cx = int((0.2 + 0.3 * k) * width + 5 * i) % width
        cy = int(height * (0.3 + 0.2 * k))
        cv2.ellipse(image, (cx, cy), (width // 10, height // 5), 0, 0, 360, (40 * k, 200, 255 - 60 * k), -1)
    return image


def write_video(
    path: Path,
    n_frames: int = 12,
    size_wh: tuple[int, int] = (320, 192),
    fps: int = 10,
    pts_seconds: Sequence[float] | None = None,
) -> list[float]:
    """Write an H.264 mp4; returns the presentation time of each frame in seconds."""
    width, height = size_wh
    times = list(pts_seconds) if pts_seconds is not None else [i / fps for i in range(n_frames)]
    time_base = Fraction(1, 1000)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(synthetic_frame(i, width, height), format="bgr24")
            frame.pts = round(t * 1000)
            frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return times


def read_video(path: Path) -> tuple[list[float], str, str, int, int]:
    """(pts seconds of each decoded frame, codec, pix_fmt, width, height)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec, pix_fmt = stream.codec_context.name, stream.codec_context.pix_fmt or ""
        width, height = stream.codec_context.width, stream.codec_context.height
        times = [float((f.pts or 0) * (f.time_base or 0)) for f in container.decode(video=0)]
    return times, codec, pix_fmt, width, height


def paced_test_pattern(
    size: str, fps: int, output: Sequence[str], pattern: str = "testsrc2"
) -> subprocess.Popen[bytes]:
    """ffmpeg writing a moving test pattern in real time (``-re``), a stand-in for a camera; ``output``
    is ffmpeg's output options and target. Raises ``FileNotFoundError`` where the ffmpeg tool is missing."""
    if shutil.which("ffmpeg") is None:
        raise FileNotFoundError("this needs the ffmpeg command line tool (apt-get install ffmpeg)")
    source = f"{pattern}=size={size}:rate={fps}"
    cmd = ["ffmpeg", "-loglevel", "error", "-re", "-f", "lavfi", "-i", source, *output]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL)


def native_thread_ids() -> set[str]:
    """Kernel ids of this process's threads, Python's and FFmpeg's alike (Linux)."""
    return {task.name for task in Path("/proc/self/task").iterdir()}
