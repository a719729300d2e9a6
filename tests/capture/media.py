"""Helpers for the capture tests: where the shared real-world clips are, and ways to damage copies."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from streamseg.capture import PyAVFileSource
from streamseg.errors import DecodeError

# The checkout and the read-only assets sit side by side: <root>/main (this repo) and <root>/shared.
ASSETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "assets"
VIDEOS = ASSETS / "videos"

PEDESTRIANS = "street_pedestrians_720p30.mp4"  # 29.97 fps, moov at the front (faststart)
DANCE = "street_dance_crowd_720p25.mp4"
HIGHWAY = "highway_cars_720p30.mp4"  # moov at the end
OFFICE_VFR = "office_person_720p_vfr.mp4"
AERIAL_AVI = "aerial_pedestrians_gray_720p25.avi"  # header claims 50 fps / 682 frames; 341 decode
ALL_CLIPS = (PEDESTRIANS, DANCE, HIGHWAY, OFFICE_VFR, AERIAL_AVI)


@dataclass
class Decoded:
    """What reading a whole source produced; images are dropped to keep memory small."""

    pts: list[float]
    indices: list[int]
    capture_times: list[float]
    frame_count: int | None
    nominal_fps: float | None
    resolution_wh: tuple[int, int]
    shapes: set[tuple[int, ...]]
    all_contiguous: bool
    decode_errors: int
    decode_fps: float
    error: DecodeError | None


def clip(name: str) -> Path:
    """A shared clip; as in tests/conftest.py, a missing asset is a failure, not a skip."""
    path = VIDEOS / name
    if not path.is_file():
        pytest.fail(f"test asset missing: {path} (the shared assets folder must sit beside the checkout)")
    return path


def write_irregular_video(path: Path, times_s: Sequence[float], size_wh: tuple[int, int] = (96, 64)) -> Path:
    """A small H.264 mp4 (with B-frames) whose frames sit at exactly ``times_s`` (ms precision)."""
    width, height = size_wh
    tb = Fraction(1, 1000)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = tb
        stream.codec_context.time_base = tb
        stream.codec_context.options = {"bf": "2", "preset": "ultrafast"}
        for i, t in enumerate(times_s):
            image = np.full((height, width, 3), (i * 37) % 256, np.uint8)
            image[:, (i * 5) % width] = 255
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = round(t * 1000)
            frame.time_base = tb
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def decode_all(path: Path) -> Decoded:
    """Read every frame; a ``DecodeError`` at the end is captured, not raised."""
    pts: list[float] = []
    indices: list[int] = []
    times: list[float] = []
    shapes: set[tuple[int, ...]] = set()
    contiguous = True
    error: DecodeError | None = None
    with PyAVFileSource(str(path)) as src:
        try:
            for frame in src:
                pts.append(frame.pts)
                indices.append(frame.index)
                times.append(frame.capture_time)
                shapes.add(frame.image.shape)
                contiguous &= bool(frame.image.flags.c_contiguous) and frame.image.dtype.name == "uint8"
        except DecodeError as exc:
            error = exc
        return Decoded(
            pts=pts,
            indices=indices,
            capture_times=times,
            frame_count=src.frame_count,
            nominal_fps=src.nominal_fps,
            resolution_wh=src.resolution_wh,
            shapes=shapes,
            all_contiguous=contiguous,
            decode_errors=src.stats.decode_errors,
            decode_fps=src.stats.decode_fps,
            error=error,
        )


def truncated_copy(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def garbled_copy(src: Path, dst: Path, at_fraction: float, nbytes: int, seed: int = 0) -> Path:
    """Overwrite ``nbytes`` in the middle with seeded random bytes (same damage on every run)."""
    data = bytearray(src.read_bytes())
    start = int(len(data) * at_fraction)
    data[start : start + nbytes] = random.Random(seed).randbytes(nbytes)
    dst.write_bytes(bytes(data))
    return dst


def strictly_increasing(values: Sequence[float]) -> bool:
    return all(b > a for a, b in itertools.pairwise(values))


def remux(src: Path, dst: Path, movflags: str | None = None) -> Path:
    """Copy the video stream into another container (format from ``dst``'s suffix), no re-encoding.

    ``movflags="+faststart"`` moves an MP4's moov atom to the front, as ``ffmpeg -movflags`` does.
    """
    options = {"movflags": movflags} if movflags else None
    with av.open(str(src)) as inp, av.open(str(dst), "w", options=options) as out:
        in_stream = inp.streams.video[0]
        out_stream = out.add_stream_from_template(in_stream)
        for packet in inp.demux(in_stream):
            if packet.dts is None:  # the flush packet at the end
                continue
            packet.stream = out_stream
            out.mux(packet)
    return dst
