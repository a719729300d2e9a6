"""The leak watchdog: how fast RSS (and GPU memory) grows, and one warning when it keeps growing.

A pipeline meant to run for weeks can leak a few MiB an hour and nobody notices until the box swaps.
``LeakWatch`` keeps a robust slope (``trend.GrowthTrend``) per kind of memory over a sliding window
(``telemetry.leak_window_s``, 30 minutes by default); telemetry reports it as
``memory_growth_bytes_per_hour`` (Prometheus: ``streamseg_memory_growth_bytes_per_hour{kind}``).

It warns once, with one log line, when the slope over the whole window is above
``telemetry.leak_warn_mib_per_hour``, each half of the window grows at least half as fast, and this
*stays* so for ``PERSIST`` window buckets in a row. A leak passes all three; memory that stepped up once
(a new decoder, a new batch size) can tip a robust slope while the step sits near the middle of a noisy
window, but then only one half of the window grows. When the slope falls below half the threshold the
watch re-arms, and a later episode warns again. ``Telemetry.watch_memory`` feeds it from a thread of its own,
so growth is seen even when nobody reads telemetry.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from streamseg.telemetry.trend import BUCKETS, GrowthTrend

logger = logging.getLogger(__name__)

KINDS = {"rss": "rss_bytes", "gpu": "gpu_memory_bytes"}  # kind -> the memory reading it follows
PERSIST = BUCKETS // 4  # buckets in a row over the threshold before the warning (7 minutes by default)
WARMUP_BUCKETS = 2  # readings of the first two buckets (2 minutes) are the pipeline filling up, not a trend
MiB = 2**20


class LeakWatch:
    """Growth per hour of each kind of memory; the warning. Fed from one thread, read from any."""

    def __init__(self, warn_mib_per_hour: float, window_s: float) -> None:
        self.warn_bytes_per_hour = warn_mib_per_hour * MiB
        self.window_s = window_s
        self._trends: dict[str, GrowthTrend] = {}
        self._growth: dict[str, float | None] = {}
        self._over: dict[str, int] = {}  # buckets in a row with the full-window slope over the threshold
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self._first: float | None = None

    def observe(self, now: float, readings: Mapping[str, int]) -> None:
        """One memory reading (``SystemProbe.read()``'s keys) taken at ``now`` (monotonic seconds).

        Readings from the first ``WARMUP_BUCKETS`` buckets are left out: the model, decoders, encoders
        and batch sizes take their memory then, a rise that is not a trend (a soak's RSS climbs
        160 MiB in its first minute)."""
        if self._first is None:
            self._first = now
        if now - self._first < WARMUP_BUCKETS * self.window_s / BUCKETS:
            return
        for kind, key in KINDS.items():
            value = readings.get(key)
            if value is None:
                continue
            trend = self._trends.get(kind)
            if trend is None:
                trend = self._trends[kind] = GrowthTrend(self.window_s)
            if trend.add(now, float(value)):
                self._judge(kind, trend)

    def growth(self) -> dict[str, float | None]:
        """Bytes per hour for each kind measured so far (None until the window has a few buckets)."""
        with self._lock:
            return dict(self._growth)

    @property
    def warned(self) -> frozenset[str]:
        """The kinds whose growth was warned about and has not fallen back since."""
        with self._lock:
            return frozenset(self._warned)

    def _judge(self, kind: str, trend: GrowthTrend) -> None:
        slope = trend.slope()
        per_hour = slope * 3600 if slope is not None else None
        with self._lock:
            self._growth[kind] = per_hour
        if self.warn_bytes_per_hour <= 0 or per_hour is None:
            return
        halves = trend.half_slopes() if trend.full else None
        over = (
            halves is not None
            and per_hour > self.warn_bytes_per_hour
            and min(halves) * 3600 > self.warn_bytes_per_hour / 2
        )
        self._over[kind] = self._over.get(kind, 0) + 1 if over else 0
        if self._over[kind] == PERSIST and kind not in self._warned:
            with self._lock:
                self._warned.add(kind)
            logger.warning(
                "memory keeps growing: %s +%.1f MiB/h over the last %s (warning above %g MiB/h, "
                "telemetry.leak_warn_mib_per_hour); a leak is likely",
                "RSS" if kind == "rss" else "GPU memory",
                per_hour / MiB,
                _duration(self.window_s),
                self.warn_bytes_per_hour / MiB,
            )
        elif kind in self._warned and per_hour < self.warn_bytes_per_hour / 2:
            with self._lock:
                self._warned.discard(kind)
            logger.info("%s growth is down to %+.1f MiB/h", kind, per_hour / MiB)


def sample_interval(window_s: float) -> float:
    """About 12 readings per bucket: 5 s for the default 30-minute window, never above 5 s."""
    return min(5.0, max(0.02, window_s / BUCKETS / 12))


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
