"""The dashboard's view of a run: per-source health and rates, process totals, and a rolling history.

Built from ``Telemetry.snapshot()`` plus what the preview sink saw. Only names and numbers go out:
never a source URI (which may hold camera credentials).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from streamseg import __version__
from streamseg.web.preview import PreviewSink

HEALTH_STATES = ("connecting", "live", "stalled", "reconnecting", "failed", "ended")
STALL_AFTER_S = 5.0  # a source with no new frame for this long reads "stalled" (unless capture says more)


@dataclass(frozen=True)
class RunInfo:
    """Fixed facts about the run that the snapshot does not carry."""

    sources: tuple[str, ...]
    batch_size: int
    preview_fps: float
    history_s: int = 300


def source_health(entry: dict[str, Any] | None, idle_s: float | None, ended: bool) -> str:
    """The capture layer's own state when it reports one, otherwise a guess from frame arrival."""
    reported = (entry or {}).get("health")
    if isinstance(reported, dict):
        reported = reported.get("state")
    if isinstance(reported, str) and reported:
        return reported
    if ended:
        return "ended"
    if idle_s is None:
        return "connecting"
    return "stalled" if idle_s > STALL_AFTER_S else "live"


class StatusBuilder:
    """Makes the ``/api/status`` document; ``point`` is the compact form kept for the charts."""

    def __init__(
        self,
        snapshot: Callable[[], dict[str, Any]],
        preview: PreviewSink,
        info: RunInfo,
        names: Callable[[], Sequence[str]] | None = None,
    ) -> None:
        """``names()``: the sources running now, when they change during the run (else ``info.sources``)."""
        self._snapshot = snapshot
        self._preview = preview
        self.info = info
        self._current = names
        self._last: tuple[float, dict[str, Any]] | None = None

    def names(self) -> Sequence[str]:
        return tuple(self._current()) if self._current is not None else self.info.sources

    def recent(self, max_age_s: float = 1.0) -> dict[str, Any]:
        """The last status if it is at most ``max_age_s`` old (a snapshot costs ~1-2 ms), else a new one."""
        last = self._last
        if last is not None and time.monotonic() - last[0] <= max_age_s:
            return last[1]
        return self.status()

    def status(self) -> dict[str, Any]:
        snap = self._snapshot()
        now = time.monotonic()
        names = self._names(snap)
        sources = [self._source(name, snap["sources"].get(name), now) for name in names]
        snap = running_only(snap, set(names))
        stages = snap.get("stages", {})
        batch = snap.get("batch") or {}
        recent_batch = float(batch.get("recent_mean_size", 0.0))
        out: dict[str, Any] = {
            "version": __version__,
            "timestamp": snap["timestamp"],
            "uptime_s": snap["uptime_s"],
            "ready": bool(sources) and all(s["health"] == "live" for s in sources),
            "sources": sources,
            "total": {k: snap["total"][k] for k in ("fps", "avg_fps", "processed", "dropped", "captured")},
            "stages": {k: {"p50_ms": v["p50_ms"], "p99_ms": v["p99_ms"]} for k, v in stages.items()},
            "batch": {
                "max_size": self.info.batch_size,
                "recent_mean_size": recent_batch,
                "fill": round(recent_batch / self.info.batch_size, 3) if self.info.batch_size else 0.0,
            },
            "queues": snap.get("queues", {}),
            "rss_bytes": snap.get("rss_bytes"),
            "gpu_memory_bytes": snap.get("gpu_memory_bytes"),
            "memory_growth_bytes_per_hour": snap.get("memory_growth_bytes_per_hour") or {},
            "degradation": snap.get("degradation"),  # None without --latency-budget
            "finalizing": snap.get("finalizing") or [],  # removed sources whose recordings are finishing
            "scene": snap.get("scene") or {"sources": {}, "dwell": []},  # tracks, zone counts, crossings
            "events": snap.get("events") or {"sinks": []},  # event sinks: state, delivered, dropped
            "privacy": snap.get("privacy") or {},  # per source: what is hidden, fallbacks counted
            "retention": snap.get("retention"),  # --retain/--retain-size: what is kept, what went
            "publish": snap.get("publish") or {},  # --publish: each source's publisher
            "clips": snap.get("clips") or {},  # --clips: clips written per source
            "disk": snap.get("disk") or {},  # bytes of recordings, clips and snapshots per source
            "live": snap.get("live"),  # the live video: viewers, fragments sent and dropped per source
            "preview_fps": self.info.preview_fps,
            "history_s": self.info.history_s,
        }
        self._last = (now, out)
        return out

    @staticmethod
    def point(status: dict[str, Any]) -> dict[str, Any]:
        """One chart sample: what the history needs and nothing else."""
        return {
            "t": status["timestamp"],
            "fps": status["total"]["fps"],
            "source_fps": {s["name"]: s["fps"] for s in status["sources"]},
            "stages": {k: v["p50_ms"] for k, v in status["stages"].items()},
            "batch_fill": status["batch"]["fill"],
            "queues": status["queues"],
            "rss_bytes": status["rss_bytes"],
            "gpu_memory_bytes": status["gpu_memory_bytes"],
        }

    def _names(self, snap: dict[str, Any]) -> Sequence[str]:
        if self._current is not None:
            return self.names()
        extra = sorted(n for n in snap["sources"] if n not in self.info.sources)
        return (*self.info.sources, *extra)

    def _source(self, name: str, entry: dict[str, Any] | None, now: float) -> dict[str, Any]:
        entry = entry or {}
        age = self._preview.frame_age(name, now)
        e2e = (entry.get("stages") or {}).get("end_to_end") or {}
        return {
            "name": name,
            "health": source_health(entry, self._preview.idle_for(name, now), self._preview.closed),
            "fps": entry.get("fps", 0.0),
            "capture_fps": entry.get("capture_fps", 0.0),
            "frame_age_ms": round(age * 1e3, 1) if age is not None else None,
            "latency_ms": e2e.get("p50_ms"),
            "processed": entry.get("processed", 0),
            "captured": entry.get("captured", 0),
            "dropped": entry.get("dropped", 0),
            "reconnects": int(entry.get("reconnects", 0) or 0),
            **_selection(entry),
            "last_error": entry.get("last_error") or None,  # capture redacts it; server redacts again
        }


def _selection(entry: dict[str, Any]) -> dict[str, Any]:
    """Which frames the network saw (detect rate, motion), and what it costs this camera: ms of network
    time per second of its video (its inferred frames per second times their share of each batch)."""
    selection = entry.get("selection") or {}
    network = (entry.get("stages") or {}).get("network") or {}
    inferred_fps = float(selection.get("inferred_fps", 0.0))
    return {
        "inferred_fps": inferred_fps,
        "carried_fps": selection.get("carried_fps", 0.0),
        "still_fps": selection.get("still_fps", 0.0),
        "motion_share": selection.get("motion_share"),
        "network_ms_per_s": round(inferred_fps * float(network.get("mean_ms", 0.0)), 1),
    }


def running_only(snap: dict[str, Any], names: set[str]) -> dict[str, Any]:
    """``snap`` with its per-source sections cut to the sources running now: a removed source leaves the
    status and every ``/metrics`` series at once (20 add/remove cycles left 40 stale series), whatever
    the part that reported it still keeps (a recording being finished, a live channel)."""
    out = dict(snap)
    queues = out.get("queues")
    if isinstance(queues, dict):  # "frames:NAME" lives until the source's last frames are through
        out["queues"] = {q: n for q, n in queues.items() if not q.startswith("frames:") or q[7:] in names}
    for key in ("publish", "clips", "disk", "privacy"):
        if isinstance(out.get(key), dict):
            out[key] = _only(out[key], names)
    live = out.get("live")
    if isinstance(live, dict) and isinstance(live.get("sources"), dict):
        out["live"] = {**live, "sources": _only(live["sources"], names)}
    scene = out.get("scene")
    if isinstance(scene, dict):
        dwell = [h for h in scene.get("dwell") or [] if h.get("source") in names]
        out["scene"] = {**scene, "sources": _only(scene.get("sources") or {}, names), "dwell": dwell}
    degradation = out.get("degradation")
    if isinstance(degradation, dict):
        per_source = {
            k: _only(v, names)
            for k, v in degradation.items()
            if k in _PER_SOURCE_DEGRADATION and isinstance(v, dict)
        }
        out["degradation"] = {**degradation, **per_source}
    return out


_PER_SOURCE_DEGRADATION = ("strides", "skip_frame", "skipped", "detect_scale")


def _only(by_source: dict[str, Any], names: set[str]) -> dict[str, Any]:
    return {name: value for name, value in by_source.items() if name in names}


class History:
    """The last ``seconds`` of chart points (one a second), shared by every viewer."""

    def __init__(self, seconds: int) -> None:
        self._points: deque[dict[str, Any]] = deque(maxlen=max(1, seconds))

    def add(self, point: dict[str, Any]) -> None:
        self._points.append(point)

    def points(self) -> list[dict[str, Any]]:
        return list(self._points)
