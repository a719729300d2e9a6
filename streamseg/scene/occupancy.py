"""Who is in a zone, since when, and for how long: enter at ``min_overlap`` of the mask inside, leave
below half of it (hysteresis, so a mask flickering at the edge does not enter and exit every frame), or
for anchors after the point is out on ``EXIT_FRAMES`` frames in a row. A track that ends leaves."""

from __future__ import annotations

from dataclasses import dataclass, field

EXIT_FRAMES = 3  # anchors: frames out in a row before an object has left (Frigate's inertia is 3 too)


@dataclass
class Stay:
    entered_pts: float
    class_name: str
    out_frames: int = 0
    loitered: bool = False


@dataclass
class ZoneOccupancy:
    """One zone of one source: the tracks inside it and what changed on each frame."""

    name: str
    min_overlap: float
    by_mask: bool
    loiter_s: float
    classes: tuple[str, ...]
    inside: dict[int, Stay] = field(default_factory=dict)

    def admits(self, class_name: str) -> bool:
        return not self.classes or class_name in self.classes

    def observe(
        self, track: int, class_name: str, share: float, pts: float
    ) -> tuple[str | None, Stay | None]:
        """This frame's view of one track: (``entered``, ``exited``, ``loitering`` or None, its stay)."""
        stay = self.inside.get(track)
        if stay is None:
            if share >= self.min_overlap:
                stay = self.inside[track] = Stay(pts, class_name)
                return "entered", stay
            return None, None
        out = share < (self.min_overlap / 2 if self.by_mask else self.min_overlap)
        stay.out_frames = stay.out_frames + 1 if out else 0
        if out and (self.by_mask or stay.out_frames >= EXIT_FRAMES):
            del self.inside[track]
            return "exited", stay
        if self.loiter_s > 0 and not stay.loitered and pts - stay.entered_pts >= self.loiter_s:
            stay.loitered = True
            return "loitering", stay
        return None, stay

    def leave(self, track: int) -> Stay | None:
        """A track that ended: its stay, if it was inside."""
        return self.inside.pop(track, None)
