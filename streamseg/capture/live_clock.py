"""Presentation times for live sources that stay true to the wall clock.

A camera's own timestamps are the best record of when each frame was taken, so they are used while
they advance in step with real time. When they are missing, jump (a camera reboot, a wrapped clock)
or start over after a reconnect, the clock is re-anchored to the time the frame arrived. A recording
made from these times plays at real speed, and an outage shows as a gap of its real length.

"In step" is lopsided on purpose: HLS and other segment-based streams deliver seconds of video in a
burst, so a stream may run well *ahead* of its arrival times (``max_ahead_s``); falling *behind* them
by more than ``max_behind_s`` means time passed that the stream does not account for (a stall).

Some streams' timestamps run at the wrong *rate*: raw MJPEG carries none, and FFmpeg then counts
25 fps whatever the camera sends, so a 15 fps camera's clock falls 40 % behind real time. Re-anchoring
alone would turn that into a file that plays too fast with a jump every few seconds. So the clock's
rate is checked over windows of ``rate_window_s``: when two windows in a row advance by less than
``min_rate`` of the real time that passed, the stream's timestamps are not trusted again until the next
reconnect, and arrival times are used instead. (One slow window is a network hiccup; the catch-up
burst that follows makes the next one fast. Buffering can only make a stream run *ahead*.)
"""

from __future__ import annotations

import logging
import math

logger = logging.getLogger(__name__)

MIN_STEP_S = 1e-4  # strictly increasing, even for two frames that arrive together


class LiveClock:
    """Maps (stream pts, arrival time) to seconds since the first frame; never goes backwards."""

    def __init__(
        self,
        max_behind_s: float = 2.0,
        max_ahead_s: float = 30.0,
        rate_window_s: float = 2.0,
        min_rate: float = 0.8,
        label: str = "stream",
    ) -> None:
        self._max_behind = max_behind_s
        self._max_ahead = max_ahead_s
        self._rate_window = rate_window_s
        self._min_rate = min_rate
        self._label = label
        self._t0: float | None = None
        self._offset: float | None = None  # output = stream pts + offset
        self._last = -math.inf
        self._window: tuple[float, float] | None = None  # (stream pts, arrival) where this window began
        self._slow_windows = 0  # consecutive windows in which the stream fell behind real time
        self.trusted = True  # False: the stream's timestamps run slow; arrival times until reset()
        self._warned = False  # said once as a warning; after each later reconnect only at INFO
        self.rebased = 0  # times the stream's timestamps had to be re-anchored (jumps, not reconnects)

    def reset(self) -> None:
        """After a reconnect the stream's clock restarts: anchor the next frame to its arrival."""
        self._offset = None
        self._window = None
        self._slow_windows = 0
        self.trusted = True

    def pts(self, stream_pts: float | None, arrival: float) -> float:
        if self._t0 is None:
            self._t0 = arrival
        wall = arrival - self._t0
        if stream_pts is None or not math.isfinite(stream_pts) or not self._rate_ok(stream_pts, arrival):
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

    def _rate_ok(self, stream_pts: float, arrival: float) -> bool:
        """False once the stream's clock has run slow for two windows in a row (then until reset)."""
        if not self.trusted:
            return False
        if self._window is None:
            self._window = (stream_pts, arrival)
            return True
        start_pts, start_arrival = self._window
        elapsed = arrival - start_arrival
        if elapsed < self._rate_window:
            return True
        advanced = stream_pts - start_pts
        self._slow_windows = self._slow_windows + 1 if advanced < self._min_rate * elapsed else 0
        self._window = (stream_pts, arrival)
        if self._slow_windows >= 2:
            self.trusted = False
            logger.log(
                logging.INFO if self._warned else logging.WARNING,
                "%s: its timestamps run slower than real time (%.2f s in %.2f s); using arrival times",
                self._label,
                advanced,
                elapsed,
            )
            self._warned = True
        return self.trusted
