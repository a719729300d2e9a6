"""Decode shedding in the sources (the latency ladder's gate): frames passed over before conversion, the
decoder's ``skip_frame`` applied where the picture stays whole, numbering kept across reconnects."""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import numpy as np
import pytest

from streamseg.capture import LiveSource, PyAVFileSource
from streamseg.capture.base import SourceBase, SourceStats
from streamseg.capture.skipping import MAX_KEY_GAP_S, DecodeSkipper
from streamseg.types import Frame
from tests.capture.test_live_source import FAST, IMAGE, factory_of


class Gate:
    """A gate under the test's control: ``every`` k-th index admitted, ``mode`` for the decoder."""

    def __init__(self, mode: str = "DEFAULT", every: int = 1) -> None:
        self.mode, self.every = mode, every
        self.asked: list[int] = []

    def admits(self, index: int) -> bool:
        self.asked.append(index)
        return index % self.every == 0

    @property
    def skip_frame(self) -> str:
        return self.mode


def write_gop_video(path: Path, seconds: float, fps: int, gop: int, bframes: int = 0) -> Path:
    """An H.264 mp4 with a keyframe every ``gop`` frames (and ``bframes`` B-frames between references)."""
    tb = Fraction(1, 1000)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.time_base = tb
        stream.codec_context.time_base = tb
        options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": str(bframes)}
        stream.codec_context.options = {**options, "preset": "ultrafast"}
        for i in range(round(seconds * fps)):
            image = np.full((64, 96, 3), (i * 37) % 256, np.uint8)
            image[:, (i * 5) % 96] = 255
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = round(i * 1000 / fps)
            frame.time_base = tb
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


# One decoder thread, as for cameras: a frame comes out of the packet that carries it (frame threads
# would each hold some back), so the tests can say which packet a change of mode met.


def read_all(src: PyAVFileSource, gate: Any = None) -> list[Frame]:
    with src:
        if gate is not None:
            src.set_gate(gate)
        return list(src)


def keyframe_times(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        return [float(f.pts * f.time_base) for f in c.decode(video=0) if f.key_frame]


def test_refused_frames_keep_their_numbers_and_times_and_are_never_converted(tmp_path: Path) -> None:
    path = write_gop_video(tmp_path / "b.mp4", 2, 15, gop=15, bframes=2)
    everything = read_all(PyAVFileSource(str(path), threads=1))
    src = PyAVFileSource(str(path), threads=1)
    converted = []
    with src:
        reformat = src._bgr.reformat
        src._bgr = SimpleNamespace(reformat=lambda *a, **k: converted.append(1) or reformat(*a, **k))
        src.set_gate(Gate(every=3))
        frames = list(src)
    assert [f.index for f in frames] == list(range(0, 30, 3))
    assert [f.pts for f in frames] == [f.pts for f in everything][::3]  # the stream's own times
    assert len(converted) == len(frames) == 10  # the 20 refused frames were never converted
    assert src.stats.frames_decoded == 30


def test_non_reference_frames_are_left_undecoded(tmp_path: Path) -> None:
    path = write_gop_video(tmp_path / "b.mp4", 2, 15, gop=15, bframes=2)
    everything = read_all(PyAVFileSource(str(path), threads=1))
    gate = Gate("NONREF")
    frames = read_all(PyAVFileSource(str(path), threads=1), gate)
    keys = keyframe_times(path)
    assert len(keys) < len(frames) < len(everything)  # the B-frames nothing refers to are gone
    assert {f.pts for f in frames} < {f.pts for f in everything}  # the others, at their own times
    assert [f.index for f in frames] == list(range(len(frames)))  # numbered as they come out
    assert gate.asked == [f.index for f in frames]


def test_keyframes_only_then_all_frames_from_a_keyframe(tmp_path: Path) -> None:
    path = write_gop_video(tmp_path / "k.mp4", 6, 10, gop=10)  # a keyframe a second
    assert keyframe_times(path) == pytest.approx([0, 1, 2, 3, 4, 5])
    gate = Gate("NONKEY")
    src = PyAVFileSource(str(path), threads=1)
    times: list[float] = []
    with src:
        src.set_gate(gate)
        while (frame := src.read()) is not None:
            times.append(round(frame.pts, 3))
            if frame.pts >= 3.0 and gate.mode == "NONKEY":
                gate.mode = "DEFAULT"
    # 0-1 s: every frame (the keyframe spacing is unknown until the second keyframe), then keyframes
    # only; asked for every frame at 3.0 s, the decoder was still between keyframes (the P-frames from
    # 3.1 s need 3.0's successors it never decoded) so every frame comes back from 4.0 s
    assert times[:11] == pytest.approx([i / 10 for i in range(11)])
    assert times[11:13] == pytest.approx([2.0, 3.0])
    assert times[13:] == pytest.approx([round(4 + i / 10, 3) for i in range(20)])
    assert src.stats.decode_errors == 0 and src.stats.damaged_frames == 0


def test_keyframes_too_far_apart_are_not_all_a_camera_gets(tmp_path: Path) -> None:
    path = write_gop_video(tmp_path / "far.mp4", 7, 10, gop=30)  # a keyframe every 3 s
    frames = read_all(PyAVFileSource(str(path), threads=1), Gate("NONKEY"))
    assert MAX_KEY_GAP_S < 3.0 and len(frames) == 70  # no B-frames: "non-reference only" leaves all


def test_the_skipper_changes_mode_only_where_the_picture_stays_whole() -> None:
    codec = SimpleNamespace(skip_frame="DEFAULT")
    skipper = DecodeSkipper(codec, Fraction(1, 1000))  # type: ignore[arg-type]

    def packet(pts: int, key: bool = False) -> Any:
        return SimpleNamespace(pts=pts, is_keyframe=key)

    skipper.before(packet(0, key=True), "NONKEY")
    assert codec.skip_frame == "NONREF"  # one keyframe: the spacing is not known yet
    skipper.before(packet(500), "NONKEY")
    skipper.before(packet(1000, key=True), "NONKEY")
    assert codec.skip_frame == "NONKEY" and skipper.key_gap_s == 1.0
    skipper.before(packet(1500), "DEFAULT")
    assert codec.skip_frame == "NONKEY"  # mid-GOP: the next frames' references were never decoded
    assert skipper.packet_at is not None and skipper.packet_at <= time.monotonic()
    skipper.before(packet(2000, key=True), "DEFAULT")
    assert codec.skip_frame == "DEFAULT"
    skipper.before(packet(2100), "NONREF")
    assert codec.skip_frame == "NONREF"
    skipper.before(packet(2200), "BOGUS")
    assert codec.skip_frame == "DEFAULT"  # non-reference frames can come back at once


class GatedCamera(SourceBase):
    """A fake stream that asks its gate about each of ``frames`` decoded frames, as PyAV's does."""

    name, uri, is_live, frame_count, nominal_fps = "fake", "rtsp://cam/x", True, None, 10.0
    resolution_wh = (8, 8)

    def __init__(self, frames: int) -> None:
        self._left = frames
        self._i = 0
        self._stats = SourceStats()
        self.gate: Any = None
        self.skipped_packet_at: float | None = None

    def set_gate(self, gate: Any) -> None:
        self.gate = gate

    def open(self) -> None:
        pass

    def read(self) -> Frame | None:
        while self._left > 0:
            self._left -= 1
            self._i += 1
            if self.gate is None or self.gate.admits(self._i):
                return Frame("inner", self._i, 100.0 + self._i * 0.1, time.monotonic(), IMAGE)
        from streamseg.errors import SourceError

        raise SourceError("connection reset")

    def close(self) -> None:
        pass


def test_a_live_source_numbers_refused_frames_across_reconnects() -> None:
    cams = [GatedCamera(5), GatedCamera(7)]
    src = LiveSource(factory_of(cams), name="door", uri="rtsp://cam/x", policy=FAST)  # type: ignore[arg-type]
    gate = Gate("NONREF", every=2)
    src.set_gate(gate)
    frames = [src.read() for _ in range(6)]
    assert [f.index for f in frames if f] == [0, 2, 4, 6, 8, 10]  # one numbering over both connections
    assert gate.asked == list(range(11))  # the gate is asked with ours, never the connection's
    assert cams[0].gate is not None and cams[1].gate is not None  # handed to the new connection
    assert cams[1].gate.skip_frame == "NONREF"
    src.set_gate(None)
    assert cams[1].gate is None
    src.close()


def test_a_live_source_skipping_frames_is_alive_while_packets_come() -> None:
    cam = GatedCamera(3)
    src = LiveSource(factory_of([cam]), name="door", uri="rtsp://cam/x", policy=FAST)  # type: ignore[arg-type]
    assert src.read() is not None
    time.sleep(FAST.stall_s + 0.05)
    assert src.health == "stalled"
    cam.skipped_packet_at = time.monotonic()  # keyframes only: no frame, but packets arrive
    assert src.health == "live"
    src.close()
