"""Thread-safe recorders for latency samples, frame rates and gauges.

These sit on the hot path (several calls per frame per stage), so recording is O(1) under one
short, per-meter lock; all sorting and percentile work happens when a snapshot is taken.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

STAGES: tuple[str, ...] = (
    "queue_wait",
    "preprocess",
    "infer",
    "postprocess",
    "refine",
    "network",  # a camera's share of the batches its frames were in (pipeline/workers: submit's time)
    "scene",  # tracking, zones and lines (pipeline/scene_step), on the render thread
    "render",
    "encode",
    "end_to_end",
)
# captured, processed, dropped; and which frames the network saw (pipeline/selection): inferred, carried
# (an earlier result moved on), still (no motion, no live track), moving (motion measured)
FRAME_KINDS: tuple[str, ...] = ("captured", "processed", "dropped", "inferred", "carried", "still", "moving")


@dataclass(frozen=True, slots=True)
class SampleSummary:
    """Statistics of one meter: ``count``/``run_mean`` over the whole run, the rest over recent samples."""

    count: int
    run_mean: float
    mean: float
    p50: float
    p99: float
    max: float


class SampleMeter:
    """Keeps the last ``window`` samples (for percentiles) plus a whole-run count and sum."""

    __slots__ = ("_count", "_lock", "_recent", "_sum")

    def __init__(self, window: int = 1024) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self._recent: deque[float] = deque(maxlen=window)
        self._count = 0
        self._sum = 0.0
        self._lock = threading.Lock()

    def record(self, value: float) -> None:
        with self._lock:
            self._recent.append(value)
            self._count += 1
            self._sum += value

    @property
    def count(self) -> int:
        return self._count

    def summary(self) -> SampleSummary | None:
        """Percentiles of the recent window (numpy's default linear interpolation); None if empty."""
        with self._lock:
            count, total = self._count, self._sum
            recent = np.fromiter(self._recent, dtype=np.float64, count=len(self._recent))
        if count == 0:
            return None
        p50, p99 = np.percentile(recent, [50.0, 99.0])
        return SampleSummary(
            count=count,
            run_mean=total / count,
            mean=float(recent.mean()),
            p50=float(p50),
            p99=float(p99),
            max=float(recent.max()),
        )


class RateMeter:
    """Counts events and their rate over a sliding time window and over the whole run.

    Events closer together than ``window_s / 200`` share one bucket, so memory stays bounded at any
    frame rate while the windowed rate is accurate to about half a percent.
    """

    __slots__ = (
        "_buckets",
        "_clock",
        "_first_n",
        "_first_t",
        "_in_window",
        "_last_t",
        "_lock",
        "_resolution",
        "_total",
        "_window",
    )

    def __init__(self, clock: Clock, window_s: float = 2.0) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {window_s}")
        self._clock = clock
        self._window = window_s
        self._resolution = window_s / 200.0
        self._buckets: deque[list[float]] = deque()  # [first event time, events]
        self._in_window = 0
        self._total = 0
        self._first_t: float | None = None
        self._first_n = 0
        self._last_t = 0.0
        self._lock = threading.Lock()

    def add(self, n: int = 1) -> None:
        now = self._clock()
        with self._lock:
            if self._first_t is None:
                self._first_t = now
            if now - self._first_t < self._resolution:
                # Events arriving together at the start (several sources, a batch) open the
                # first interval rather than fill it: rates count what comes after them.
                self._first_n += n
            self._last_t = now
            self._total += n
            self._in_window += n
            buckets = self._buckets
            if buckets and now - buckets[-1][0] < self._resolution:
                buckets[-1][1] += n
            else:
                buckets.append([now, n])
            self._evict(now)

    @property
    def total(self) -> int:
        return self._total

    def rate(self, now: float | None = None) -> float:
        """Events per second over the last ``window_s`` (or since the first event, if more recent)."""
        now = self._clock() if now is None else now
        with self._lock:
            self._evict(now)
            if self._first_t is None:
                return 0.0
            elapsed = now - self._first_t
            if elapsed >= self._window:
                return self._in_window / self._window
            # Window not yet full: count intervals, not events, so one early frame is not "1000 fps".
            return (self._total - self._first_n) / elapsed if elapsed > 0 else 0.0

    def run_rate(self) -> float:
        """Events per second between the first and the last event of the run."""
        with self._lock:
            if self._first_t is None or self._last_t <= self._first_t:
                return 0.0
            return (self._total - self._first_n) / (self._last_t - self._first_t)

    def _evict(self, now: float) -> None:
        cutoff = now - self._window
        buckets = self._buckets
        while buckets and buckets[0][0] <= cutoff:
            self._in_window -= int(buckets.popleft()[1])


class SourceCounters:
    """Captured / processed / dropped frame rates of one source, and how its frames met the network."""

    __slots__ = ("captured", "dropped", "processed", "selection")

    def __init__(self, clock: Clock, window_s: float) -> None:
        self.captured = RateMeter(clock, window_s)
        self.processed = RateMeter(clock, window_s)
        self.dropped = RateMeter(clock, window_s)
        self.selection = {kind: RateMeter(clock, window_s) for kind in FRAME_KINDS[3:]}

    def meter(self, kind: str) -> RateMeter:
        if kind == "processed":
            return self.processed
        if kind == "captured":
            return self.captured
        if kind == "dropped":
            return self.dropped
        if kind in self.selection:
            return self.selection[kind]
        raise ValueError(f"unknown frame kind {kind!r} (valid: {', '.join(FRAME_KINDS)})")


class Gauges:
    """Named callables (queue depths ...) sampled only when a snapshot is taken."""

    def __init__(self) -> None:
        self._probes: dict[str, Callable[[], int]] = {}
        self._lock = threading.Lock()
        self._failed: set[str] = set()

    def register(self, name: str, probe: Callable[[], int]) -> None:
        with self._lock:
            self._probes[name] = probe
            self._failed.discard(name)

    def unregister(self, name: str) -> None:
        with self._lock:
            self._probes.pop(name, None)

    def sample(self) -> dict[str, int | None]:
        """Current values; a probe that raises reads as None (logged once, at debug level)."""
        with self._lock:
            probes = list(self._probes.items())
        out: dict[str, int | None] = {}
        for name, probe in probes:
            try:
                out[name] = int(probe())
            except Exception as exc:  # a gauge must never break telemetry
                if name not in self._failed:
                    self._failed.add(name)
                    logger.debug("gauge %r failed: %s", name, exc)
                out[name] = None
        return out
