"""How fast a noisy reading grows: a robust slope over a sliding window, in constant memory.

RSS of a healthy pipeline is not flat from one sample to the next: the allocator moves several MiB
back and forth, and memory steps up once when a decoder, encoder or batch size is first met. A
least-squares line reads such a step as growth for as long as it stays in the window. The Theil-Sen
slope (the median of the slopes between every pair of points) ignores a step that splits fewer than
half of the pairs and any single spike, and follows a steady leak exactly.

The window is cut into ``BUCKETS`` buckets (one a minute for a 30-minute window); each bucket becomes
one point, the median of its samples. So the work per estimate is fixed (435 pairs) whatever the
sample rate, and so is the memory: the trend must not grow what it watches.
"""

from __future__ import annotations

from collections import deque

import numpy as np

BUCKETS = 30
MIN_POINTS = 5  # a slope from fewer points would be mostly noise
_I, _J = np.triu_indices(BUCKETS, k=1)


def theil_sen_slope(t: np.ndarray, v: np.ndarray) -> float:
    """Median of (v[j] - v[i]) / (t[j] - t[i]) over all pairs i < j (``t`` strictly increasing)."""
    n = len(t)
    if n < 2:
        raise ValueError("a slope needs at least two points")
    i, j = (_I, _J) if n == BUCKETS else np.triu_indices(n, k=1)
    return float(np.median((v[j] - v[i]) / (t[j] - t[i])))


class GrowthTrend:
    """Samples in, a slope per second out; the window slides a bucket at a time."""

    def __init__(self, window_s: float, buckets: int = BUCKETS) -> None:
        if window_s <= 0 or buckets < 2:
            raise ValueError(f"window_s must be > 0 and buckets >= 2, got {window_s}, {buckets}")
        self.window_s = window_s
        self.bucket_s = window_s / buckets
        self._points: deque[tuple[float, float]] = deque(maxlen=buckets)  # (bucket middle, median)
        self._bucket = np.empty(64)  # samples of the bucket being filled (the oldest overwritten past 64)
        self._filled = 0
        self._bucket_start: float | None = None

    def add(self, t: float, value: float) -> bool:
        """One sample at time ``t`` (seconds, never decreasing); True when it completed a bucket."""
        start = self._bucket_start
        if start is None:
            start = self._bucket_start = t
        closed = False
        if t >= start + self.bucket_s:
            closed = self._close_bucket()
            skipped = (t - start) // self.bucket_s  # a gap (suspended process) leaves buckets empty
            self._bucket_start = start + skipped * self.bucket_s
        self._bucket[self._filled % len(self._bucket)] = value
        self._filled += 1
        return closed

    @property
    def points(self) -> int:
        """Complete buckets in the window."""
        return len(self._points)

    @property
    def full(self) -> bool:
        """True once the complete buckets span the whole window."""
        return self._points.maxlen is not None and len(self._points) == self._points.maxlen

    def slope(self) -> float | None:
        """Growth per second over the window so far; None before ``MIN_POINTS`` buckets are complete."""
        if len(self._points) < MIN_POINTS:
            return None
        t, v = np.array(self._points).T
        return theil_sen_slope(t, v)

    def half_slopes(self) -> tuple[float, float] | None:
        """Slopes of the older and the newer half of the window: a leak shows in both, a one-time step
        in one at most. None before each half has ``MIN_POINTS`` buckets."""
        n = len(self._points)
        if n < 2 * MIN_POINTS:
            return None
        t, v = np.array(self._points).T
        mid = n // 2
        return theil_sen_slope(t[:mid], v[:mid]), theil_sen_slope(t[mid:], v[mid:])

    def _close_bucket(self) -> bool:
        start, n = self._bucket_start, min(self._filled, len(self._bucket))
        self._filled = 0
        if start is None or n == 0:
            return False
        self._points.append((start + self.bucket_s / 2, float(np.median(self._bucket[:n]))))
        return True
