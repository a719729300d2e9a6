"""``--segment 10m``: one recording split into consecutive files of a fixed duration.

Segments are cut by presentation time (for live sources that is wall-clock time), each file starts at
t=0 with a keyframe and plays on its own: ``out_000.mp4``, ``out_001.mp4`` ... A reconnect does not
start a new segment; the outage shows as a gap inside the current file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from streamseg.render.writer import VideoWriter
from streamseg.types import UInt8Array

logger = logging.getLogger(__name__)


def segment_path(base: Path, index: int) -> Path:
    return base.with_name(f"{base.stem}_{index:03d}{base.suffix or '.mp4'}")


class SegmentedWriter:
    """Same ``write``/``close`` as ``VideoWriter``; rotates to a new file every ``segment_s`` seconds."""

    def __init__(self, path: str | Path, segment_s: float, make: Callable[[Path], VideoWriter]) -> None:
        if segment_s <= 0:
            raise ValueError(f"segment_s must be > 0, got {segment_s}")
        self._base = Path(path)
        self._segment_s = segment_s
        self._make = make
        self._index = 0
        self._start_pts: float | None = None
        self._writer = make(segment_path(self._base, 0))  # now, so a bad folder fails at start-up
        self.paths = [self._writer.path]

    @property
    def path(self) -> Path:
        return self._writer.path

    def write(self, image: UInt8Array, pts_seconds: float) -> None:
        if self._start_pts is None:
            self._start_pts = pts_seconds
        elif pts_seconds - self._start_pts >= self._segment_s:
            self._writer.close()
            self._index += 1
            self._writer = self._make(segment_path(self._base, self._index))
            self.paths.append(self._writer.path)
            self._start_pts = pts_seconds
            logger.info("recording continues in %s", self._writer.path)
        self._writer.write(image, pts_seconds)

    def close(self) -> None:
        self._writer.close()
