"""``LiveSource`` without a network: fake inner sources that fail, end, hang and come back."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from streamseg.capture import LiveSource, ReconnectPolicy
from streamseg.capture.base import SourceBase, SourceStats
from streamseg.errors import SourceError, SourceGaveUp, SourceTimeout
from streamseg.types import Frame

FAST = ReconnectPolicy(initial_s=0.01, max_s=0.02, jitter=0.0, stall_s=0.2)
IMAGE = np.zeros((8, 8, 3), np.uint8)


class FakeCamera(SourceBase):
    """Delivers ``frames`` frames (pts from 100 s, as a camera clock would), then ``then``."""

    def __init__(
        self, frames: int, then: str = "error", open_error: bool = False, block_s: float = 0.0
    ) -> None:
        self._left = frames
        self._then = then
        self._open_error = open_error
        self._block_s = block_s
        self._i = 0
        self.closed = False

    name = "fake"
    uri = "rtsp://user:pw@cam/x"
    is_live = True
    frame_count = None
    nominal_fps = 10.0
    resolution_wh = (8, 8)
    stats = SourceStats()

    def open(self) -> None:
        if self._open_error:
            raise SourceTimeout("rtsp://user:pw@cam/x: no answer within 1 s")

    def read(self) -> Frame | None:
        if self._left == 0:
            if self._block_s:
                time.sleep(self._block_s)
            if self._then == "error":
                raise SourceError("connection reset")
            return None
        self._left -= 1
        self._i += 1
        return Frame("inner", self._i, 100.0 + self._i * 0.1, time.monotonic(), IMAGE)

    def close(self) -> None:
        self.closed = True


def factory_of(cameras: list[FakeCamera]) -> Callable[[], FakeCamera]:
    it = iter(cameras)
    return lambda: next(it)


def test_reconnects_and_keeps_counting() -> None:
    cams = [FakeCamera(3), FakeCamera(0, open_error=True), FakeCamera(2, then="end"), FakeCamera(4)]
    src = LiveSource(factory_of(cams), name="door", uri="rtsp://user:pw@cam/x", policy=FAST)
    src.open()
    assert src.health == "connecting"
    frames = [src.read() for _ in range(9)]
    assert all(f is not None for f in frames)
    assert [f.index for f in frames if f] == list(range(9))
    assert {f.source for f in frames if f} == {"door"}
    pts = [f.pts for f in frames if f]
    assert pts[0] == 0.0 and all(b > a for a, b in itertools.pairwise(pts))
    assert src.reconnects == 2 and src.health == "live"
    assert all(c.closed for c in cams[:3])
    assert src.stats.frames_decoded == 0  # fakes keep no stats; the sum still works
    assert "pw" not in (src.last_error or "") and src.health_info()["reconnects"] == 2
    src.close()
    assert src.read() is None and src.health == "ended"


def test_max_retries_gives_up_with_one_redacted_line() -> None:
    cams = [FakeCamera(0, open_error=True) for _ in range(5)]
    policy = ReconnectPolicy(initial_s=0.01, max_s=0.01, jitter=0.0, max_retries=2)
    src = LiveSource(factory_of(cams), name="x", uri="rtsp://user:pw@cam/x", policy=policy)
    with pytest.raises(SourceGaveUp) as info:
        src.read()
    message = str(info.value)
    assert message.startswith("rtsp://user:***@cam/x: unreachable after 3 attempts")
    assert "pw" not in message.replace("***", "") and "\n" not in message
    assert src.health == "failed"


def test_stalled_while_a_read_hangs_and_close_never_blocks() -> None:
    src = LiveSource(factory_of([FakeCamera(1, block_s=1.0)]), name="x", uri="rtsp://cam/x", policy=FAST)
    assert src.read() is not None
    reader = threading.Thread(target=src.read, daemon=True)
    reader.start()
    time.sleep(0.4)
    assert src.health == "stalled"
    started = time.monotonic()
    src.close()
    assert time.monotonic() - started < 0.3  # blocking would wait out the read's remaining 0.6 s
    reader.join(timeout=3)
    assert not reader.is_alive()


def test_backoff_wait_is_cut_short_by_close() -> None:
    policy = ReconnectPolicy(initial_s=30, max_s=30, jitter=0.0)
    src = LiveSource(lambda: FakeCamera(0, open_error=True), name="x", uri="rtsp://cam/x", policy=policy)
    out: list[Frame | None] = []
    reader = threading.Thread(target=lambda: out.append(src.read()), daemon=True)
    reader.start()
    time.sleep(0.3)
    src.close()
    reader.join(timeout=2)
    assert not reader.is_alive() and out == [None]


class DrainingCamera(FakeCamera):
    """Loses its connection after ``frames`` frames but still hands out ``tail`` from its decoder."""

    def __init__(self, frames: int, tail: int) -> None:
        super().__init__(frames + tail)
        self._before_drop = frames

    @property
    def draining(self) -> bool:
        return self._i > self._before_drop  # the frame just read came after the drop


def test_frames_drained_after_a_drop_do_not_read_as_live() -> None:
    cams = [DrainingCamera(2, tail=3), FakeCamera(5)]
    src = LiveSource(factory_of(cams), name="door", uri="rtsp://cam/x", policy=FAST)
    seen = []
    for _ in range(7):
        frame = src.read()
        assert frame is not None
        seen.append((frame.index, src.health))
    # the decoder's last frames still come out (nothing is lost), but health says the camera went
    assert seen[:5] == [(0, "live"), (1, "live"), *((i, "reconnecting") for i in (2, 3, 4))]
    assert seen[5:] == [(5, "live"), (6, "live")] and src.reconnects == 1
    src.close()
