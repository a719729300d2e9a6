"""Turn decoder timestamps into a strictly increasing presentation time in seconds.

Decoders hand frames out in presentation order, but the timestamps they carry are copied from packets
and can be wrong: AVI stores no presentation times at all, so FFmpeg's packet ``pts`` for an AVI with
B-frames follow *decode* order and jump backwards. This mirrors FFmpeg's own ``best_effort_timestamp``
rule (count how often pts and dts go backwards, trust whichever misbehaves less), fills gaps from the
previous frame plus its duration, and never lets time go backwards or repeat.
"""

from __future__ import annotations

from fractions import Fraction


class PtsTracker:
    """Stateful per-stream timestamp chooser; feed it every decoded frame in output order."""

    def __init__(
        self,
        time_base: Fraction,
        start_ticks: int | None,
        default_duration_ticks: int,
        prefer_dts: bool = False,
    ) -> None:
        self._tb = time_base
        self._start = start_ticks
        self._default_dur = max(1, default_duration_ticks)
        # A container known to carry only decode timestamps starts out distrusting pts.
        self._faulty_pts = 1 if prefer_dts else 0
        self._faulty_dts = 0
        self._last_pts: int | None = None
        self._last_dts: int | None = None
        self._last_out: int | None = None
        self._last_duration = self._default_dur
        self._last_step = 0
        self.repaired = 0  # frames whose timestamp had to be invented or nudged

    def next_seconds(self, pts: int | None, dts: int | None, duration: int | None) -> float:
        """Seconds since stream start for the next frame (the first frame is ~0)."""
        ticks = self._choose(pts, dts)
        if ticks is None:
            ticks = self._extrapolate()
            self.repaired += 1
        elif self._last_out is not None and ticks <= self._last_out:
            ticks = self._last_out + 1  # one tick later: keeps order without drifting the timeline
            self.repaired += 1
        elif self._last_out is not None:
            self._last_step = ticks - self._last_out
        if self._start is None:
            self._start = ticks
        self._last_out = ticks
        self._last_duration = duration if duration and duration > 0 else self._default_dur
        return float((ticks - self._start) * self._tb)

    def _choose(self, pts: int | None, dts: int | None) -> int | None:
        if pts is not None:
            if self._last_pts is not None and pts <= self._last_pts:
                self._faulty_pts += 1
            self._last_pts = pts
        if dts is not None:
            if self._last_dts is not None and dts <= self._last_dts:
                self._faulty_dts += 1
            self._last_dts = dts
        if self._faulty_pts <= self._faulty_dts or self._last_dts is None:
            return pts if pts is not None else dts
        if dts is not None:
            return dts
        # pts has proven unreliable and this frame has no dts (drained at the end): use its pts only
        # if it moves time forward, else extrapolate from the spacing seen so far.
        if pts is not None and (self._last_out is None or pts > self._last_out):
            return pts
        return None

    def _extrapolate(self) -> int:
        if self._last_out is None:
            return self._start if self._start is not None else 0
        # The spacing actually observed beats the declared duration (AVI declares one tick per frame).
        return self._last_out + (self._last_step or self._last_duration)
