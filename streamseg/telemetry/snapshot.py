"""The ``Telemetry`` facade the pipeline holds: cheap recording calls, and ``snapshot()`` for reading.

Snapshot layout (all JSON-serialisable; times in ms, rates in frames per second)::

    {
      "timestamp": 1732550000.12,          # wall clock (time.time())
      "uptime_s": 12.3,
      "sources": {name: {"captured", "processed", "dropped", "fps", "avg_fps", "capture_fps",
                         "stages": {stage: stats}}},   # "stages" only for stages recorded per source
                                                       # live sources add "health", "reconnects", "last_error"
      "total": {"captured", "processed", "dropped", "fps", "avg_fps"},
      "stages": {stage: {"count", "mean_ms", "p50_ms", "p99_ms", "max_ms"}},
      "queues": {name: depth or None},
      "batch": {"batches", "mean_size", "recent_mean_size"},   # only once a batch was recorded
      "rss_bytes", "rss_peak_bytes",        # when readable
      "gpu_memory_bytes",                   # only when a GPU is present
      "memory_growth_bytes_per_hour": {"rss": x, "gpu": y},   # while the leak watch runs (None: too early)
      "degradation": {...},                 # sections others register (the latency ladder)
    }

``fps`` is over the last ``fps_window_s`` seconds; ``avg_fps`` over the whole run so far.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from streamseg.telemetry.leak import LeakWatch, sample_interval
from streamseg.telemetry.meters import (
    FRAME_KINDS,
    STAGES,
    Clock,
    Gauges,
    SampleMeter,
    SampleSummary,
    SourceCounters,
)
from streamseg.telemetry.system import SystemProbe
from streamseg.util.periodic import Every

logger = logging.getLogger(__name__)

__all__ = ["FRAME_KINDS", "STAGES", "MemoryProbe", "SampleObserver", "Telemetry"]


class MemoryProbe(Protocol):
    """Anything that reads the memory fields of a snapshot (``SystemProbe``, or a fake in tests)."""

    def read(self) -> dict[str, int]: ...

    def close(self) -> None: ...


class SampleObserver(Protocol):
    """Sees every latency and batch sample as it is recorded (e.g. Prometheus histograms)."""

    def observe_stage(self, stage: str, seconds: float, source: str | None) -> None: ...

    def observe_batch(self, size: int) -> None: ...


class Telemetry:
    """Collects per-stage latencies, per-source frame counts, queue depths and batch sizes.

    Every recording method is safe to call from any thread. ``clock`` (default ``time.monotonic``)
    is injectable so rate logic can be tested without sleeping; latencies are passed in as
    durations and never read the clock. ``gpu_index`` is the CUDA device whose memory is reported;
    pass None when inference runs on the CPU, or a GPU box would report other processes' memory.
    """

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        fps_window_s: float = 2.0,
        latency_window: int = 1024,
        gpu_index: int | None = 0,
        system: MemoryProbe | None = None,
    ) -> None:
        self._clock = clock
        self._fps_window = fps_window_s
        self._latency_window = latency_window
        self._start = clock()
        self._stages: dict[str, SampleMeter] = {}
        self._source_stages: dict[tuple[str, str], SampleMeter] = {}
        self._sources: dict[str, SourceCounters] = {}
        self._totals = SourceCounters(clock, fps_window_s)
        self._batch = SampleMeter(latency_window)
        self._gauges = Gauges()
        self._system: MemoryProbe = system if system is not None else SystemProbe(gpu_index)
        self._create_lock = threading.Lock()
        self._peak_rss = 0
        self._source_info: dict[str, Callable[[], Mapping[str, Any]]] = {}
        self._observers: tuple[SampleObserver, ...] = ()
        self._sections: dict[str, Callable[[], Any]] = {}
        self._sampler: Every | None = None
        self._leak: LeakWatch | None = None  # the last watch started; its figures outlive its thread

    # -- recording (hot path) --------------------------------------------------------------------

    def record_stage(self, stage: str, seconds: float, source: str | None = None) -> None:
        """Add one latency sample; ``source`` also files it under that source. NaN/inf are ignored."""
        if not math.isfinite(seconds):
            return
        meter = self._stages.get(stage) or self._new_stage(stage, None)
        meter.record(seconds)
        if source is not None:
            key = (source, stage)
            per_source = self._source_stages.get(key) or self._new_stage(stage, source)
            per_source.record(seconds)
        for observer in self._observers:
            observer.observe_stage(stage, seconds, source)

    def record_stages(self, stage_seconds: Mapping[str, float], source: str | None = None) -> None:
        """Record several stages at once, e.g. ``SegResult.stage_seconds``."""
        for stage, seconds in stage_seconds.items():
            self.record_stage(stage, seconds, source)

    def count_frame(self, source: str, kind: str = "processed", n: int = 1) -> None:
        """Count ``n`` frames of ``source`` as ``captured``, ``processed`` or ``dropped``."""
        counters = self._sources.get(source) or self._new_source(source)
        counters.meter(kind).add(n)
        self._totals.meter(kind).add(n)

    def record_batch(self, size: int) -> None:
        """Record how many frames one inference call carried."""
        self._batch.record(float(size))
        for observer in self._observers:
            observer.observe_batch(size)

    def register_queue(self, name: str, depth_fn: Callable[[], int]) -> None:
        """Sample ``depth_fn()`` (e.g. ``queue.qsize``) under ``name`` in every snapshot."""
        self._gauges.register(name, depth_fn)

    def unregister_queue(self, name: str) -> None:
        self._gauges.unregister(name)

    def register_source_info(self, source: str, info_fn: Callable[[], Mapping[str, Any]]) -> None:
        """Merge ``info_fn()`` (e.g. a live source's health and reconnects) into that source's entry."""
        self._new_source(source)  # listed from the start, even before its first frame
        self._source_info[source] = info_fn

    def forget_source(self, source: str) -> None:
        """Drop a source that was removed from the run (its frames stay in the totals)."""
        with self._create_lock:
            self._sources.pop(source, None)
            self._source_info.pop(source, None)
            for key in [k for k in self._source_stages if k[0] == source]:
                del self._source_stages[key]

    def register_section(self, key: str, section: Callable[[], Any]) -> None:
        """Add ``section()`` under ``key`` to every snapshot (e.g. the latency ladder's state)."""
        with self._create_lock:
            self._sections[key] = section

    def watch_memory(self, warn_mib_per_hour: float, window_s: float) -> LeakWatch:
        """Start the leak watchdog (a thread sampling memory; see ``telemetry.leak``) unless it runs."""
        with self._create_lock:
            if self._sampler is None or self._leak is None:
                watch = self._leak = LeakWatch(warn_mib_per_hour, window_s)
                self._sampler = Every(
                    sample_interval(window_s),
                    lambda: watch.observe(time.monotonic(), self._system.read()),  # real time, always
                    "memory-watch",
                    at_start=True,
                ).start()
            return self._leak

    def stop_watching_memory(self) -> None:
        """Stop the sampling thread; the last growth figures stay in the snapshot."""
        with self._create_lock:
            sampler, self._sampler = self._sampler, None
        if sampler is not None:
            sampler.stop()

    def add_observer(self, observer: SampleObserver) -> None:
        """Also hand every later latency and batch sample to ``observer`` (on the recording thread)."""
        with self._create_lock:
            self._observers = (*self._observers, observer)

    # -- reading ---------------------------------------------------------------------------------

    def fps(self, source: str | None = None) -> float:
        """Processed frames per second over the recent window (all sources when ``source`` is None).

        Cheap enough for a per-frame HUD, unlike ``snapshot``.
        """
        if source is None:
            return self._totals_fps(self._clock())
        counters = self._sources.get(source)
        return counters.processed.rate() if counters is not None else 0.0

    @property
    def uptime(self) -> float:
        return self._clock() - self._start

    def snapshot(self) -> dict[str, Any]:
        """A JSON-serialisable picture of the run so far (see the module docstring for the keys)."""
        now = self._clock()
        sources: dict[str, Any] = {}
        for name, counters in sorted(self._sources.copy().items()):
            entry = self._counters_dict(counters, now)
            entry["capture_fps"] = round(counters.captured.rate(now), 2)
            entry["selection"] = _selection(counters, now)
            stages = {
                stage: _stats_ms(s)
                for (src, stage), meter in self._source_stages.copy().items()
                if src == name and (s := meter.summary()) is not None
            }
            if stages:
                entry["stages"] = _ordered(stages)
            info_fn = self._source_info.get(name)
            if info_fn is not None:
                entry.update(info_fn())
            sources[name] = entry
        total = self._counters_dict(self._totals, now)
        total["fps"] = round(self._totals_fps(now), 2)
        stages = {
            stage: _stats_ms(s)
            for stage, meter in self._stages.copy().items()
            if (s := meter.summary()) is not None
        }
        snap: dict[str, Any] = {
            "timestamp": round(time.time(), 3),
            "uptime_s": round(now - self._start, 3),
            "sources": sources,
            "total": total,
            "stages": _ordered(stages),
            "queues": self._gauges.sample(),
        }
        batch = self._batch.summary()
        if batch is not None:
            snap["batch"] = {
                "batches": batch.count,
                "mean_size": round(batch.run_mean, 3),
                "recent_mean_size": round(batch.mean, 3),
            }
        memory = self._system.read()
        if "rss_bytes" in memory:
            self._peak_rss = max(self._peak_rss, memory["rss_bytes"], memory.get("rss_peak_bytes", 0))
            memory["rss_peak_bytes"] = self._peak_rss
        snap.update(memory)
        if self._leak is not None:
            snap["memory_growth_bytes_per_hour"] = self._leak.growth()
        for key, section in self._sections.copy().items():
            snap[key] = section()
        return snap

    def close(self) -> None:
        """Stop the leak watchdog and release NVML (if it was used)."""
        self.stop_watching_memory()
        self._system.close()

    # -- internals -------------------------------------------------------------------------------

    def _totals_fps(self, now: float) -> float:
        # Sources run side by side, so the total rate is the sum of theirs.
        return sum(c.processed.rate(now) for c in self._sources.copy().values())

    @staticmethod
    def _counters_dict(counters: SourceCounters, now: float) -> dict[str, Any]:
        return {
            "captured": counters.captured.total,
            "processed": counters.processed.total,
            "dropped": counters.dropped.total,
            "fps": round(counters.processed.rate(now), 2),
            "avg_fps": round(counters.processed.run_rate(), 2),
        }

    def _new_stage(self, stage: str, source: str | None) -> SampleMeter:
        with self._create_lock:
            if source is None:
                return self._stages.setdefault(stage, SampleMeter(self._latency_window))
            return self._source_stages.setdefault((source, stage), SampleMeter(self._latency_window))

    def _new_source(self, source: str) -> SourceCounters:
        with self._create_lock:
            return self._sources.setdefault(source, SourceCounters(self._clock, self._fps_window))


def _selection(counters: SourceCounters, now: float) -> dict[str, Any]:
    """Frames per second the network saw (inferred), carried an earlier result (carried) or stood still
    (still), and the share of recent frames with motion (None: motion not measured)."""
    rates = {kind: meter.rate(now) for kind, meter in counters.selection.items()}
    decided = rates["inferred"] + rates["carried"] + rates["still"]
    return {
        "inferred_fps": round(rates["inferred"], 2),
        "carried_fps": round(rates["carried"], 2),
        "still_fps": round(rates["still"], 2),
        "inferred": counters.selection["inferred"].total,
        "carried": counters.selection["carried"].total,
        "still": counters.selection["still"].total,
        "motion_share": round(rates["moving"] / decided, 3) if counters.selection["moving"].total else None,
    }


def _stats_ms(s: SampleSummary) -> dict[str, float | int]:
    return {
        "count": s.count,
        "mean_ms": round(s.mean * 1e3, 3),
        "p50_ms": round(s.p50 * 1e3, 3),
        "p99_ms": round(s.p99 * 1e3, 3),
        "max_ms": round(s.max * 1e3, 3),
    }


def _ordered(stages: dict[str, Any]) -> dict[str, Any]:
    """Known stages in pipeline order, then any others alphabetically."""
    known = [s for s in STAGES if s in stages]
    extra = sorted(s for s in stages if s not in STAGES)
    return {s: stages[s] for s in (*known, *extra)}
