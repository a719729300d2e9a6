"""The render thread's scene work: each result of a source with tracking, zones or lines goes through
that source's ``SceneWatcher`` (in frame order) and comes out with its track ids, its events and the
marks to draw; what was counted is kept for the status, ``/metrics`` and the dashboard."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

import numpy as np

from streamseg.capture import FrameSource
from streamseg.config import Config, SourceConfig, tracker_for
from streamseg.config.confidence import network_conf, shown_conf
from streamseg.scene import SceneWatcher
from streamseg.scene.tracking import SourceTracker
from streamseg.scene.visible import HIDDEN, select_instances, shown
from streamseg.types import (
    FloatArray,
    Frame,
    IntArray,
    LineMark,
    SceneMarks,
    SegResult,
    StageRecorder,
    ZoneMark,
)

logger = logging.getLogger(__name__)

DWELL_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class SceneStep:
    """Watchers per source, and the counts they have made (thread-safe reads for the status)."""

    def __init__(self, cfg: Config, record_stage: StageRecorder | None = None) -> None:
        """``record_stage``: the time each result's scene work took goes to telemetry as ``scene``."""
        self._cfg = cfg
        self._record_stage = record_stage
        self._watchers: dict[str, SceneWatcher] = {}
        self._last_pts: dict[str, float] = {}
        self._live: dict[str, bool] = {}  # the source's tracker follows someone (read by the batcher)
        self._velocities: dict[str, dict[int, tuple[float, float]]] = {}  # of its tracks, px/s
        self._lock = threading.Lock()
        # (source, zone, class) -> [count per bucket..., +Inf count, sum]
        self._dwell: dict[tuple[str, str, str], list[float]] = {}
        # a tracked run with conf unset: the network runs at 0.1, what is shown is filtered (scene.visible)
        shown_at = shown_conf(cfg.model)
        self._min_score = shown_at if network_conf(cfg) < shown_at else None

    @property
    def active(self) -> bool:
        return bool(self._watchers)

    def add_source(self, source: FrameSource, sc: SourceConfig) -> None:
        """Watch ``source`` when it tracks or has zones or lines (``ConfigError`` for pixels outside a
        frame whose size is already known)."""
        kind = tracker_for(self._cfg, sc)
        if kind is None and not sc.zones and not sc.lines:
            return
        t = self._cfg.track
        tracker = None
        if kind is not None:
            tracker = SourceTracker(kind, lost_s=t.lost_s, tick_hz=source.nominal_fps or 30.0, match=t.match)
        watcher = SceneWatcher(
            source.name, sc.zones, sc.lines, tracker, frame_wh=source.resolution_wh, min_score=self._min_score
        )
        with self._lock:
            self._watchers[source.name] = watcher
        what = [f"{kind} tracking" if kind else "", f"{len(sc.zones)} zones" if sc.zones else ""]
        what.append(f"{len(sc.lines)} lines" if sc.lines else "")
        logger.info("source %s: %s", source.name, ", ".join(w for w in what if w))

    def tracks(self, source: str) -> bool:
        """Whether ``source`` is tracked (its events exist)."""
        watcher = self._watchers.get(source)
        return watcher is not None and watcher.tracker is not None

    def needs_host_masks(self) -> bool:
        """Zones judged by masks, and association by mask IoU, read the masks of every frame."""
        return any(
            w.tracker_needs_masks or any(z.anchor == "mask" for z in w.zone_configs)
            for w in list(self._watchers.values())
        )

    def track_early(
        self,
        frames: Sequence[Frame],
        frame_of: IntArray,
        xyxy: FloatArray,
        score: FloatArray,
        class_id: IntArray,
    ) -> IntArray:
        """Track ids of a device batch's instances (``frame_of``: each one's position in ``frames``),
        for the sources whose tracker needs only boxes; -1 for the others, which are tracked when their
        results come through here; ``HIDDEN`` for those never reported (``scene.visible``), dropped
        before their masks are made. Called on the inference thread, in frame order per source."""
        ids = np.full(len(frame_of), -1, dtype=np.int64)
        for position, frame in enumerate(frames):
            watcher = self._watchers.get(frame.source)
            if watcher is None or not watcher.tracks_early:
                if self._min_score is not None and (watcher is None or watcher.tracker is None):
                    ids[(frame_of == position) & ~(score > self._min_score)] = HIDDEN  # never shown
                continue
            started = time.perf_counter()
            mine = np.flatnonzero(frame_of == position)
            ids[mine] = watcher.track_early(frame, xyxy[mine], score[mine], class_id[mine])
            if self._min_score is not None:
                ids[mine[~shown(score[mine], ids[mine], self._min_score)]] = HIDDEN
            if self._record_stage is not None:
                self._record_stage("scene", time.perf_counter() - started, frame.source)
        return ids

    def __call__(self, result: SegResult) -> SegResult:
        watcher = self._watchers.get(result.source)
        if watcher is None:
            if self._min_score is None:
                return result
            return select_instances(result, result.score > self._min_score)  # untracked: as --conf says
        started = time.perf_counter()
        result, ids, events = watcher.observe(result)
        self._last_pts[result.source] = result.pts
        if watcher.tracker is not None:
            self._velocities[result.source] = velocities = watcher.tracker.velocities()
            self._live[result.source] = bool(velocities)
        self._count(events)
        done = dataclasses.replace(
            result, track_id=ids, events=tuple(e.to_json() for e in events), scene=_marks(watcher)
        )
        if self._record_stage is not None:
            self._record_stage("scene", time.perf_counter() - started, result.source)
        return done

    def has_live_tracks(self, source: str) -> bool:
        """Whether ``source``'s tracker followed someone after its latest inferred frame (motion gating
        lets the detect rate through while it does)."""
        return self._live.get(source, False)

    def velocities(self, source: str) -> dict[int, tuple[float, float]]:
        """Its tracks' velocities after its latest inferred frame (what carried frames move them by)."""
        return self._velocities.get(source, {})

    def end_source(self, name: str) -> list[dict[str, Any]]:
        """The events of a source that ended (every track it still followed leaves); it is forgotten,
        with its counts."""
        self._live.pop(name, None)
        self._velocities.pop(name, None)
        with self._lock:
            watcher = self._watchers.pop(name, None)
            for key in [k for k in self._dwell if k[0] == name]:
                del self._dwell[key]
        if watcher is None:
            return []
        events = watcher.end(self._last_pts.pop(name, 0.0))  # its counts and histograms went with it
        return [e.to_json() for e in events]

    def _count(self, events: list[Any]) -> None:
        for event in events:
            dwell = event.extra.get("dwell_s") if event.type == "exited" else None
            if dwell is None:
                continue
            key = (event.source, str(event.extra["zone"]), event.class_name)
            with self._lock:
                row = self._dwell.setdefault(key, [0.0] * (len(DWELL_BUCKETS) + 2))
                row[bisect_left(DWELL_BUCKETS, float(dwell))] += 1
                row[-1] += float(dwell)

    def status(self) -> dict[str, Any]:
        """Per source: zones (objects in each, by class) and lines (crossings by direction and class);
        and the dwell histograms."""
        with self._lock:
            watchers = dict(self._watchers)
            dwell = {k: list(v) for k, v in self._dwell.items()}
        sources = {}
        for name, w in watchers.items():
            sources[name] = {
                "tracker": w.tracker.kind if w.tracker is not None else None,
                "track_session": w.session,
                "zones": {c.zone: c.by_class for c in w.zone_counts},
                "lines": {
                    line: [{"direction": d, "class": c, "count": n} for (d, c), n in sorted(totals.items())]
                    for line, totals in w.line_totals.items()
                },
            }
        histograms = [
            {
                "source": s,
                "zone": z,
                "class": c,
                "buckets": list(DWELL_BUCKETS),
                "counts": row[:-1],
                "sum": row[-1],
            }
            for (s, z, c), row in sorted(dwell.items())
        ]
        return {"sources": sources, "dwell": histograms}


def _marks(watcher: SceneWatcher) -> SceneMarks | None:
    geometry = watcher.geometry
    if geometry is None or not (geometry.zones or geometry.lines):
        return None
    counts = {c.zone: c.total for c in watcher.zone_counts}
    totals = watcher.line_totals
    lines = []
    for line in geometry.lines:
        crossed = totals.get(line.config.name, {})
        lines.append(
            LineMark(
                line.config.name,
                (float(line.start[0]), float(line.start[1])),
                (float(line.end[0]), float(line.end[1])),
                sum(n for (d, _), n in crossed.items() if d == "in"),
                sum(n for (d, _), n in crossed.items() if d == "out"),
            )
        )
    zones = tuple(ZoneMark(z.config.name, z.polygon, counts.get(z.config.name, 0)) for z in geometry.zones)
    return SceneMarks(zones, tuple(lines))
