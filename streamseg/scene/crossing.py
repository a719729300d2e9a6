"""Line crossings, counted once per track and direction, with hysteresis: an object's point must go a
margin past the line before it counts as being on the other side, so one standing on the line and
jittering by a few pixels never counts twice.

The point is the box's bottom centre (where an object meets the ground). Sides are the sign of the
cross product (second point - first) x (point - first) in picture coordinates (y down): ``in`` is a
move from the negative side to the positive one. For a line drawn top to bottom that is right to left
on the screen; swap the line's points to swap the names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from streamseg.scene.geometry import PixelLine
from streamseg.types import FloatArray

MARGIN_FRACTION = 0.005  # of the frame's diagonal: 7 px at 720p
MIN_MARGIN_PX = 2.0
END_SLACK = 0.05  # a crossing just past the segment's ends (5 % of its length) still counts


@dataclass
class LineCounter:
    """One line of one source: where each track stands, and what has been counted."""

    line: PixelLine
    margin: float
    sides: dict[int, int] = field(default_factory=dict)  # track -> -1 / +1 (last side it was clearly on)
    counted: set[tuple[int, str]] = field(default_factory=set)
    totals: dict[tuple[str, str], int] = field(default_factory=dict)  # (direction, class) -> crossings

    @classmethod
    def for_frame(cls, line: PixelLine, frame_wh: tuple[int, int]) -> LineCounter:
        w, h = frame_wh
        return cls(line, max(MIN_MARGIN_PX, MARGIN_FRACTION * float(np.hypot(w, h))))

    def update(
        self, track_ids: list[int], points: FloatArray, class_names: list[str]
    ) -> list[tuple[int, str]]:
        """Crossings this frame: (index of the instance, direction), each track and direction once."""
        a, b = self.line.start, self.line.end
        direction = b - a
        length = float(np.hypot(*direction))
        crossings: list[tuple[int, str]] = []
        allowed = self.line.config.classes
        for i, (track, point, cls) in enumerate(zip(track_ids, points, class_names, strict=True)):
            if track < 0 or (allowed and cls not in allowed):
                continue
            rel = point - a
            signed = float(direction[0] * rel[1] - direction[1] * rel[0]) / length
            if abs(signed) < self.margin:
                continue  # on the line, within the margin: no side yet
            side = 1 if signed > 0 else -1
            before = self.sides.get(track)
            self.sides[track] = side
            if before is None or before == side:
                continue
            along = float(direction @ rel) / (length * length)
            if not -END_SLACK <= along <= 1 + END_SLACK:
                continue  # went round the line's end
            name = "in" if side > 0 else "out"
            if (track, name) in self.counted:
                continue
            self.counted.add((track, name))
            self.totals[(name, cls)] = self.totals.get((name, cls), 0) + 1
            crossings.append((i, name))
        return crossings

    def forget(self, track: int) -> None:
        """An ended track: its state goes (its id never comes back)."""
        self.sides.pop(track, None)
        self.counted.discard((track, "in"))
        self.counted.discard((track, "out"))
