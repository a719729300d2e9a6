"""``SceneWatcher``: one source's tracks, zones and lines, fed each result in frame order (by the render
thread), answering with the track ids of its instances and the events of that frame."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from streamseg.config.scene import LineConfig, ZoneConfig
from streamseg.scene.crossing import LineCounter
from streamseg.scene.events import Event
from streamseg.scene.geometry import SceneGeometry
from streamseg.scene.membership import anchor_points, anchors_inside, mask_shares
from streamseg.scene.occupancy import ZoneOccupancy
from streamseg.scene.tracking import SourceTracker
from streamseg.scene.visible import select_instances, shown
from streamseg.types import FloatArray, Frame, IntArray, SegResult

logger = logging.getLogger(__name__)

MAX_EARLY = 256  # frames tracked early and not yet observed (a few batches in flight, normally)


@dataclass(frozen=True)
class ZoneCount:
    """Objects in a zone on the last frame, per class."""

    zone: str
    by_class: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_class.values())


@dataclass
class _Known:
    class_name: str
    score: float
    xyxy: tuple[float, float, float, float]
    pts: float
    time: float


class SceneWatcher:
    """Tracks (when ``tracker`` is given), zone occupancy and line crossings of one source.

    ``frame_wh``: the source's size when known at start; pixel coordinates outside it are then a
    ``ConfigError`` right away. Without a tracker, zones are counted per frame and no event is made
    (an event is about an identity)."""

    def __init__(
        self,
        source: str,
        zones: tuple[ZoneConfig, ...] = (),
        lines: tuple[LineConfig, ...] = (),
        tracker: SourceTracker | None = None,
        *,
        frame_wh: tuple[int, int] = (0, 0),
        wall_clock: Callable[[], float] = time.time,
        min_score: float | None = None,
    ) -> None:
        """``min_score``: the network ran below what is shown; instances without a track id scoring
        at most this are dropped from the result once tracked (``scene.visible``)."""
        self.source = source
        self.tracker = tracker
        self.min_score = min_score
        self.session = uuid.uuid4().hex[:8]
        self._zone_configs, self._line_configs = zones, lines
        self._wall_clock = wall_clock
        self._geometry: SceneGeometry | None = None
        if frame_wh != (0, 0):
            self._geometry = SceneGeometry.build(zones, lines, frame_wh, f"source {source}")
        self._occupancy = [
            ZoneOccupancy(z.name, z.min_overlap, z.anchor == "mask", z.loiter_seconds, z.classes)
            for z in zones
        ]
        self._counters: list[LineCounter] = []
        self._counts: list[ZoneCount] = [ZoneCount(z.name, {}) for z in zones]
        self._known: dict[int, _Known] = {}
        # frame index -> (ids, live ids) of frames tracked early (``track_early``), not observed yet
        self._early: dict[int, tuple[IntArray, set[int]]] = {}

    @property
    def zone_configs(self) -> tuple[ZoneConfig, ...]:
        return self._zone_configs

    @property
    def geometry(self) -> SceneGeometry | None:
        """The zones and lines in pixels at the size of the last frame (for drawing)."""
        return self._geometry

    @property
    def zone_counts(self) -> list[ZoneCount]:
        return list(self._counts)

    @property
    def line_totals(self) -> dict[str, dict[tuple[str, str], int]]:
        """Per line: crossings so far by (direction, class)."""
        return {c.line.config.name: dict(c.totals) for c in self._counters}

    @property
    def tracks_early(self) -> bool:
        """Whether ``track_early`` may be used: box association needs nothing but the boxes."""
        return self.tracker is not None and self.tracker.match == "box"

    def track_early(self, frame: Frame, xyxy: FloatArray, score: FloatArray, class_id: IntArray) -> IntArray:
        """Track one frame's instances before its result is finished (the device path, as soon as the
        boxes are on the host, so the overlay it draws there colours them by track); ``observe`` of
        that frame, which must follow in frame order, then uses these ids."""
        if self.tracker is None:
            raise RuntimeError(f"{self.source} is not tracked")
        ids = self.tracker.update(frame.pts, xyxy, score, class_id, None, None)
        while len(self._early) >= MAX_EARLY:  # results lost on the way (never seen so far): forget
            del self._early[next(iter(self._early))]
        self._early[frame.index] = (ids, self.tracker.live_ids())
        return ids

    def observe(self, result: SegResult) -> tuple[SegResult, IntArray, list[Event]]:
        """``result`` as reported (``min_score``), the track ids of its instances (-1: not a confirmed
        track) and this frame's events."""
        frame = result.frame
        geometry = self._geometry_for(frame.resolution_wh)
        n = len(result)
        early = self._early.pop(frame.index, None)
        if early is not None:  # the overlay's ids; instances whose mask came out empty were dropped
            ids = result.track_id if len(result.track_id) == n else np.full(n, -1, dtype=np.int64)
        elif self.tracker is not None:
            masks = result.masks if self.tracker_needs_masks else None
            image = frame.image if self.tracker.kind == "botsort" and not frame.on_device else None
            ids = self.tracker.update(result.pts, result.xyxy, result.score, result.class_id, masks, image)
        else:
            ids = np.full(n, -1, dtype=np.int64)
        if self.min_score is not None:
            keep = shown(result.score, ids, self.min_score)
            result, ids = select_instances(result, keep), ids[keep]
        names = [result.class_name(i) for i in range(len(result))]
        wall = self._wall_clock() - (time.monotonic() - frame.capture_time)
        make = _EventMaker(self, result, ids, names, wall)
        events: list[Event] = []
        for i in np.flatnonzero(ids >= 0):
            tid = int(ids[i])
            if tid not in self._known:
                events.append(make(int(i), "appeared"))
            box = result.xyxy[i]
            self._known[tid] = _Known(
                names[i],
                float(result.score[i]),
                (float(box[0]), float(box[1]), float(box[2]), float(box[3])),
                result.pts,
                wall,
            )
        events += self._zones(geometry, result, ids, names, make)
        events += self._lines(result.xyxy, ids, names, make)
        if self.tracker is not None:
            live = early[1] if early is not None else self.tracker.live_ids()
            events += self._ended(live, result.pts, wall)
        return result, ids, events

    @property
    def tracker_needs_masks(self) -> bool:
        return self.tracker is not None and self.tracker.match == "mask"

    def end(self, pts: float) -> list[Event]:
        """The source ended: every track it still follows leaves (and exits its zones)."""
        return self._ended(set(), pts, self._wall_clock())

    def _geometry_for(self, frame_wh: tuple[int, int]) -> SceneGeometry:
        geometry = self._geometry
        if geometry is None or geometry.frame_wh != frame_wh:
            if geometry is not None:
                logger.info("%s: frame size is now %dx%d; zones and lines follow", self.source, *frame_wh)
            geometry = SceneGeometry.build(
                self._zone_configs, self._line_configs, frame_wh, f"source {self.source}", strict=False
            )
            self._geometry = geometry
            self._counters = [LineCounter.for_frame(line, frame_wh) for line in geometry.lines]
        elif len(self._counters) != len(geometry.lines):
            self._counters = [LineCounter.for_frame(line, frame_wh) for line in geometry.lines]
        return geometry

    def _zones(
        self, geometry: SceneGeometry, result: SegResult, ids: IntArray, names: list[str], make: _EventMaker
    ) -> list[Event]:
        events: list[Event] = []
        counts: list[ZoneCount] = []
        for zone, occupancy in zip(geometry.zones, self._occupancy, strict=True):
            wanted = [i for i in range(len(result)) if occupancy.admits(names[i])]
            shares = np.zeros(len(result), dtype=np.float32)
            if wanted and occupancy.by_mask:
                shares = mask_shares(result.masks, zone.area)
            elif wanted:
                points = anchor_points(result.xyxy, zone.config.anchor)
                shares = anchors_inside(points, zone.area).astype(np.float32)
            by_class: dict[str, int] = {}
            for i in wanted:
                tid = int(ids[i])
                if tid >= 0:
                    kind, stay = occupancy.observe(tid, names[i], float(shares[i]), result.pts)
                    if kind is not None and stay is not None:
                        extra: dict[str, object] = {"zone": zone.config.name}
                        if kind in ("exited", "loitering"):
                            extra["dwell_s"] = round(result.pts - stay.entered_pts, 3)
                        events.append(make(i, kind, extra))
                    inside = tid in occupancy.inside
                else:
                    inside = shares[i] >= occupancy.min_overlap
                if inside:
                    by_class[names[i]] = by_class.get(names[i], 0) + 1
            counts.append(ZoneCount(zone.config.name, by_class))
        self._counts = counts
        return events

    def _lines(self, xyxy: FloatArray, ids: IntArray, names: list[str], make: _EventMaker) -> list[Event]:
        if not self._counters:
            return []
        points = anchor_points(xyxy, "bottom-center")
        events: list[Event] = []
        track_ids = [int(t) for t in ids]
        for counter in self._counters:
            for i, direction in counter.update(track_ids, points, names):
                events.append(make(i, "crossed", {"line": counter.line.config.name, "direction": direction}))
        return events

    def _ended(self, live: set[int], pts: float, wall: float) -> list[Event]:
        events: list[Event] = []
        for tid in [t for t in self._known if t not in live]:
            known = self._known.pop(tid)
            for occupancy in self._occupancy:
                stay = occupancy.leave(tid)
                if stay is not None:
                    extra = {"zone": occupancy.name, "dwell_s": round(pts - stay.entered_pts, 3)}
                    events.append(self._event("exited", tid, known, pts, wall, extra))
            for counter in self._counters:
                counter.forget(tid)
            events.append(self._event("left", tid, known, pts, wall, {}))
        return events

    def _event(
        self, kind: str, tid: int, known: _Known, pts: float, wall: float, extra: dict[str, object]
    ) -> Event:
        return Event(
            kind, self.source, pts, wall, tid, self.session, known.class_name, known.score, known.xyxy, extra
        )


class _EventMaker:
    """Events about instance ``i`` of one result."""

    def __init__(
        self, watcher: SceneWatcher, result: SegResult, ids: IntArray, names: list[str], wall: float
    ):
        self._watcher, self._result, self._ids, self._names, self._wall = watcher, result, ids, names, wall

    def __call__(self, i: int, kind: str, extra: Mapping[str, object] | None = None) -> Event:
        r = self._result
        box = r.xyxy[i]
        return Event(
            kind,
            self._watcher.source,
            r.pts,
            self._wall,
            int(self._ids[i]),
            self._watcher.session,
            self._names[i],
            float(r.score[i]),
            (float(box[0]), float(box[1]), float(box[2]), float(box[3])),
            dict(extra or {}),
        )
