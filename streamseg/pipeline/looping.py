"""``--loop``: a file source that starts over when it ends, its timestamps and indices running on.

Wraps any finite ``FrameSource`` (live ones are returned unchanged), so capture code needs no
changes; each pass reopens the file through the same factory the pipeline used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from streamseg.capture import FrameSource, ImageSource, SourceBase, SourceStats
from streamseg.types import Frame

logger = logging.getLogger(__name__)

DEFAULT_STEP_S = 1 / 30  # gap between passes when the clip's frame interval is unknown


def loop_source(source: FrameSource, reopen: Callable[[], FrameSource]) -> FrameSource:
    """``source`` made endless (``reopen()`` returns a fresh, opened copy), or itself when live or still
    pictures (segmenting the same photos again tells nothing new)."""
    return source if source.is_live or isinstance(source, ImageSource) else LoopingSource(source, reopen)


class LoopingSource(SourceBase):
    """Plays the wrapped source over and over; pts and frame indices keep increasing across passes."""

    def __init__(self, first: FrameSource, reopen: Callable[[], FrameSource]) -> None:
        self._current = first
        self._reopen = reopen
        self._pts_offset = 0.0
        self._index_offset = 0
        self._last: Frame | None = None
        self._step = 1 / first.nominal_fps if first.nominal_fps else DEFAULT_STEP_S
        self._frames_this_pass = 0
        self.passes = 1

    @property
    def name(self) -> str:
        return self._current.name

    @property
    def uri(self) -> str:
        return self._current.uri

    @property
    def is_live(self) -> bool:
        return False

    @property
    def frame_count(self) -> int | None:
        return None  # endless

    @property
    def nominal_fps(self) -> float | None:
        return self._current.nominal_fps

    @property
    def resolution_wh(self) -> tuple[int, int]:
        return self._current.resolution_wh

    @property
    def stats(self) -> SourceStats:
        return self._current.stats

    def open(self) -> None:
        self._current.open()

    def read(self) -> Frame | None:
        frame = self._current.read()
        if frame is None:
            if self._frames_this_pass == 0 or self._last is None:
                return None  # an empty file would spin forever
            self._next_pass(self._last)
            frame = self._current.read()
            if frame is None:
                return None
        self._frames_this_pass += 1
        if self._last is not None and frame.pts + self._pts_offset > self._last.pts:
            self._step = frame.pts + self._pts_offset - self._last.pts
        out = frame.replace(index=frame.index + self._index_offset, pts=frame.pts + self._pts_offset)
        self._last = out
        return out

    def close(self) -> None:
        self._current.close()

    def _next_pass(self, last: Frame) -> None:
        self._current.close()
        self._current = self._reopen()
        self._index_offset = last.index + 1
        self._pts_offset = last.pts + self._step
        self._frames_this_pass = 0
        self.passes += 1
        logger.debug("%s: starting pass %d", self.name, self.passes)
