"""What one source hides in each frame, failing closed: a person the model saw and then missed stays
hidden where they are predicted to be, and a source without inference for too long is hidden whole.

Per source the guard remembers each hidden object's last sighting (its mask crop, box, stream time and
velocity). On a frame the network saw (``inference == "inferred"``):

- every instance of a hidden class is hidden by its own mask, grown by ``grow`` px;
- an object seen before and missing now (a tracked id absent; an untracked mask no current one
  overlaps) is a *ghost*: its last mask moved by its velocity (box centres of its last two sightings:
  the same track, or without tracking the sighting before it that it overlapped most) to where it
  should be now, grown by the uncertainty (a quarter of its size over ``max_gap``, plus half of how far
  it moved since; an object seen only once, whose motion is unknown, grows by a walker's speed: its own
  size per second). A ghost is dropped once its object is seen again or ``max_gap`` seconds of stream
  time have passed (it is taken to have left).

A frame that carries an earlier result (``carried``: skipped by a detect rate) is hidden with every
remembered object moved to its time the same way. Once ``max_gap`` seconds of stream time have passed
since the last inferred frame (or before the first one), such frames are hidden whole until inference
is back. A ``still`` frame (the motion detector saw nothing move, and no track is live) is hidden with
the remembered objects held where they were at the last inferred frame, however long ago: nothing
moved, so they are still there, and a quiet scene is not blanked. Time is the stream's (pts), so a
paused file or a slow machine reads the same as a live camera; a timestamp that goes back (a loop, a
reconnect) counts as a gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from streamseg.config.privacy import PrivacyConfig
from streamseg.privacy.regions import Region, area_region, grown, grown_many
from streamseg.scene.geometry import to_pixels
from streamseg.types import BoolArray, FloatArray, SegResult

UNTRACKED_MATCH_IOU = 0.3  # an untracked ghost overlapped this much by a hidden detection is that object
MAX_REMEMBERED = 512  # sightings per source
UNCERTAINTY_SHARE = 0.25  # a ghost grows by this share of its size over max_gap
# a ghost seen only once grows at this many of its sizes per second in every direction: a person walking
# covers about their own height each second (1.4 m/s, 1.7 m)
UNKNOWN_SPEED = 1.0


@dataclass(frozen=True, slots=True)
class Hiding:
    """What to hide in one frame: ``regions`` (areas, objects, ghosts), or the whole frame."""

    regions: tuple[Region, ...]
    full_frame: bool
    hidden: BoolArray  # (N,) which instances of the result are hidden by their masks
    ghosts: int


@dataclass(slots=True)
class _Sighting:
    crop: BoolArray
    origin: tuple[int, int]
    box: FloatArray  # (4,) xyxy
    seen_pts: float
    velocity: tuple[float, float] | None = None  # px per second of stream time; None: not known yet
    tracked: bool = False


@dataclass(slots=True)
class _Counts:
    hidden_objects: int = 0  # instances hidden by their own masks
    ghosts: int = 0  # objects hidden where they were last seen or predicted
    carried_frames: int = 0  # frames without inference hidden with the latest masks
    full_frames: int = 0  # frames hidden whole (no inference for longer than max_gap)


@dataclass(slots=True)
class SourceGuard:
    """One source's privacy state; ``plan(result)`` in frame order (the render thread)."""

    config: PrivacyConfig
    counts: _Counts = field(default_factory=_Counts)
    _objects: frozenset[str] = frozenset()
    _seen: dict[tuple[str, int], _Sighting] = field(default_factory=dict)
    _next_key: int = 0
    _last_inferred: float | None = None
    _areas: dict[tuple[int, int], tuple[Region, ...]] = field(default_factory=dict)
    _fresh_keys: set[tuple[str, int]] = field(default_factory=set)  # sightings of the last inferred frame

    def __post_init__(self) -> None:
        self._objects = frozenset(self.config.objects)

    def plan(self, result: SegResult) -> Hiding:
        pts = float(result.pts)
        frame_hw = result.frame.frame_hw
        areas = self._area_regions(frame_hw)
        if result.inference == "inferred":
            hidden = self._hidden_instances(result)
            objects = self._observe(result, hidden, pts)
            ghosts = self._ghost_regions(pts, frame_hw)
            self._last_inferred = pts
            self.counts.hidden_objects += int(hidden.sum())
            self.counts.ghosts += len(ghosts)
            return Hiding((*areas, *objects, *ghosts), False, hidden, len(ghosts))
        hidden = np.zeros(len(result), dtype=bool)
        gap = None if self._last_inferred is None else pts - self._last_inferred
        still = result.inference == "still"  # nothing moved since: whoever was hidden still is, held
        if gap is None or gap < 0 or (gap > self.config.max_gap and not still):
            self.counts.full_frames += 1
            return Hiding((), True, hidden, 0)
        at = self._last_inferred if still and self._last_inferred is not None else pts
        remembered = self._ghost_regions(at, frame_hw, missing_only=False)
        self.counts.carried_frames += 1
        self.counts.ghosts += len(remembered)
        return Hiding((*areas, *remembered), False, hidden, len(remembered))

    def _hidden_instances(self, result: SegResult) -> BoolArray:
        if not self._objects or len(result) == 0:
            return np.zeros(len(result), dtype=bool)
        return np.array([result.class_name(i) in self._objects for i in range(len(result))], dtype=bool)

    def _observe(self, result: SegResult, hidden: BoolArray, pts: float) -> list[Region]:
        """The hidden instances' regions; their sightings remembered, ghosts they account for dropped."""
        chosen = np.flatnonzero(hidden)
        crops = [result.masks.crops[i] for i in chosen]
        origins = [(int(result.masks.origins[i][0]), int(result.masks.origins[i][1])) for i in chosen]
        grown_crops = grown_many(crops, origins, self.config.grow, result.frame.frame_hw)  # one dilation
        regions = [r for r in grown_crops if r is not None]
        current_ids: set[int] = set()
        boxes: list[FloatArray] = []
        fresh: dict[tuple[str, int], _Sighting] = {}
        for i, crop, (x0, y0) in zip(chosen, crops, origins, strict=True):
            box = np.asarray(result.xyxy[i], dtype=np.float32)
            boxes.append(box)
            track = int(result.track_id[i])
            sighting = _Sighting(crop, (x0, y0), box, pts, tracked=track >= 0)
            if track >= 0:
                current_ids.add(track)
                sighting.velocity = _velocity(self._seen.get(("t", track)), box, pts)
                fresh[("t", track)] = sighting
            else:  # the same object as the untracked sighting it overlaps most, if any: its motion
                sighting.velocity = _velocity(self._nearest_untracked(box, pts), box, pts)
                fresh[("u", self._next_key)] = sighting
                self._next_key += 1
        kept: dict[tuple[str, int], _Sighting] = {}
        for key, before in self._seen.items():
            age = pts - before.seen_pts
            if age < 0 or age > self.config.max_gap:
                continue  # gone long enough (or time went back): a fresh start
            if key[0] == "t" and key[1] in current_ids:
                continue  # seen again: its new sighting replaces it
            if key[0] == "u" and any(_iou(before.box, b) >= UNTRACKED_MATCH_IOU for b in boxes):
                continue  # an untracked object found again where it was
            kept[key] = before
        kept.update(fresh)
        if len(kept) > MAX_REMEMBERED:  # fast untracked objects leave a trail: the oldest go first
            kept = dict(sorted(kept.items(), key=lambda kv: kv[1].seen_pts)[-MAX_REMEMBERED:])
        self._seen = kept
        self._fresh_keys = set(fresh)
        return regions

    def _nearest_untracked(self, box: FloatArray, pts: float) -> _Sighting | None:
        best, best_iou = None, UNTRACKED_MATCH_IOU
        for key, s in self._seen.items():
            if key[0] == "u" and s.seen_pts < pts:
                overlap = _iou(s.box, box)
                if overlap >= best_iou:
                    best, best_iou = s, overlap
        return best

    def _ghost_regions(
        self, pts: float, frame_hw: tuple[int, int], *, missing_only: bool = True
    ) -> list[Region]:
        """Remembered objects moved to ``pts``; with ``missing_only``, those not seen in this frame."""
        out: list[Region] = []
        fresh = self._fresh_keys if missing_only else set()
        for key, s in self._seen.items():
            if key in fresh:
                continue
            age = max(0.0, pts - s.seen_pts)
            size = float(max(s.box[2] - s.box[0], s.box[3] - s.box[1], 1.0))
            if s.velocity is None:  # seen once: it may be walking anywhere, at a walker's speed
                dx = dy = 0.0
                uncertainty = UNKNOWN_SPEED * size * age
            else:
                dx, dy = s.velocity[0] * age, s.velocity[1] * age
                share = min(1.0, age / self.config.max_gap) if self.config.max_gap > 0 else 1.0
                uncertainty = UNCERTAINTY_SHARE * size * share + 0.5 * math.hypot(dx, dy)
            pad = self.config.grow + math.ceil(uncertainty)
            origin = (s.origin[0] + round(dx), s.origin[1] + round(dy))
            region = grown(s.crop, origin, pad, frame_hw)
            if region is not None:
                out.append(region)
        return out

    def _area_regions(self, frame_hw: tuple[int, int]) -> tuple[Region, ...]:
        """The configured areas in this frame size's pixels, made once per size (pixels past a smaller
        frame are clipped: an area is hidden as far as the frame goes)."""
        cached = self._areas.get(frame_hw)
        if cached is None:
            h, w = frame_hw
            regions = []
            for k, area in enumerate(self.config.areas):
                polygon = to_pixels(
                    area.polygon, area.in_fractions, (w, h), f"privacy.areas[{k}]", strict=False
                )
                region = area_region(polygon, frame_hw)
                if region is not None:
                    regions.append(region)
            cached = self._areas[frame_hw] = tuple(regions)
        return cached


def _velocity(before: _Sighting | None, box: FloatArray, pts: float) -> tuple[float, float] | None:
    """Box centre motion in px per second of stream time since ``before`` (None: seen once so far)."""
    if before is None or pts <= before.seen_pts:
        return None
    dt = pts - before.seen_pts
    (x, y), (bx, by) = _centre(box), _centre(before.box)
    return (x - bx) / dt, (y - by) / dt


def _centre(box: FloatArray) -> tuple[float, float]:
    return float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2


def _iou(a: FloatArray, b: FloatArray) -> float:
    ix = max(0.0, min(float(a[2]), float(b[2])) - max(float(a[0]), float(b[0])))
    iy = max(0.0, min(float(a[3]), float(b[3])) - max(float(a[1]), float(b[1])))
    inter = ix * iy
    union = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0
