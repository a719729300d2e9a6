"""Presentation times for live sources that stay true to the wall clock.

A camera's own timestamps are the best record of when each frame was taken, so they are used while
they advance in step with real time. When they are missing, jump (a camera reboot, a wrapped clock)
or start over after a reconnect, the clock is re-anchored to the time the frame arrived. A recording
made from these times plays at real speed, and an outage shows as a gap of its real length.

"In step" is lopsided on purpose: HLS and other segment-based streams deliver seconds of video in a
burst, so a stream may run well *ahead* of its arrival times (``max_ahead_s``); falling *behind* them
by more than ``max_behind_s`` means time passed that the stream does not account for (a stall).
"""

from __future__ import annotations

import math

MIN_STEP_S = 1e-4  # strictly increasing, even for two frames that arrive together


class LiveClock:
    """Maps (stream pts, arrival time) to seconds since the first frame; never goes backwards."""

    def __init__(self, max_behind_s: float = 2.0, max_ahead_s: float = 30.0) -> None:
        self._max_behind = max_behind_s
        self._max_ahead = max_ahead_s
        self._t0: float | None = None
        self._offset: float | None = None  # output = stream pts + offset
        self._last = -math.inf
        self.rebased = 0  # times the stream's timestamps had to be re-anchored (jumps, not reconnects)

    def reset(self) -> None:
        """After a reconnect the stream's clock restarts: anchor the next frame to its arrival."""
        self._offset = None

    def pts(self, stream_pts: float | None, arrival: float) -> float:
        if self._t0 is None:
            self._t0 = arrival
        wall = arrival - self._t0
        if stream_pts is None or not math.isfinite(stream_pts):
            out = wall
        else:
            if self._offset is not None:
                drift = stream_pts + self._offset - wall
                if drift < -self._max_behind or drift > self._max_ahead:
                    self.rebased += 1
                    self._offset = None
            if self._offset is None:
                self._offset = wall - stream_pts
            out = stream_pts + self._offset
        out = max(out, self._last + MIN_STEP_S)
        self._last = out
        return out
