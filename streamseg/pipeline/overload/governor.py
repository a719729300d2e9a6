"""``LatencyGovernor``: holds the p95 frame age of live sources under ``--latency-budget`` by walking the
degradation ladder (``ladder.py``) one rung at a time.

It sees every frame's age when it is drawn (capture to render: a telemetry observer of ``end_to_end``)
and the inference thread's work per frame (``preprocess``, ``infer``, ``postprocess``, ``refine``).

* **Down** when the p95 age of the last ``RECENT`` frames captured since the last change is above the
  budget, at most once per ``SETTLE_S`` (so each rung is judged on its own frames), and
  not while those ages are still falling (a queue from before the step is draining; ``MAX_SETTLE_S``
  at most), so a deep live buffer does not send the ladder to the bottom.
* **Up** when p95 has stayed under ``HEADROOM`` x budget for ``UP_AFTER_S`` *and* the inference thread,
  scaled by the cost of the rung above, would stay under ``MAX_BUSY``: a climb that is sure to fail is
  not tried. If the ladder has to step down again soon after a climb, the next climb waits twice as
  long (up to ``MAX_HOLD_S``); a climb that holds resets the wait. Out of a rung that sheds decoding,
  the cost of the rung above is the frame rate measured there (per camera still delivering, against
  the rate now), not the ladder's guess: how many frames a decoder leaves out depends on the stream.

Capture threads ask ``admits(source, index)`` per frame (the stride of the source's tier in the current
rung, and the source's phase); with decode shedding a stream's decoder asks it through ``gate(source)``
before converting a frame, and reads the gate's ``skip_frame`` before each packet. The inference thread
reads ``imgsz`` between batches, and the batcher ``detect_scale(source)`` per frame of a source with a
detect rate (the factor the rung puts on it). All are plain reads of the current rung. A live source
added while running joins with ``add_source``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np

from streamseg.pipeline.overload.ladder import Rung, nearest_tier

logger = logging.getLogger(__name__)

RECENT = 64  # p95 over the last 64 frames captured since the last change ...
MIN_FRAMES = 10  # ... once there are this many
WINDOW_S = 2.0  # the inference thread's load over the last 2 s
SETTLE_S = 2.0  # at least this long on a rung before stepping further down ...
MAX_SETTLE_S = 8.0  # ... and at most this long while a backlog drains (ages falling)
DRAINING = 0.2  # frame ages falling this many seconds per second: a backlog is still emptying
TICK_S = 0.25  # decisions at most this often
HEADROOM = 0.75  # climbing needs p95 under 75 % of the budget ...
MAX_BUSY = 0.8  # ... and the inference thread, scaled to the rung above, under 80 % busy
UP_AFTER_S = 8.0  # ... both for this long
MAX_HOLD_S = 16 * UP_AFTER_S  # the longest wait after climbs that failed
WORK_STAGES = frozenset({"preprocess", "infer", "postprocess", "refine"})
MIN_RATE_S = 1.0  # a rung's frame rates are kept once it has been on for this long
RATE_WINDOW_S = UP_AFTER_S  # frame rates "now" are over the last 8 s (a camera gone quiet costs nothing)


class LatencyGovernor:
    """Walks ``rungs`` (rung 0 first) for the live sources named in it; see the module docstring."""

    def __init__(
        self,
        budget_s: float,
        rungs: Sequence[Rung],
        priorities: Mapping[str, str],
        clock: Callable[[], float] = time.monotonic,
        detecting: Collection[str] = (),
    ) -> None:
        """``priorities``: live source -> low / normal / high, in order (round-robin phases follow it);
        ``detecting``: those of them with a detect rate."""
        if not rungs:
            raise ValueError("a ladder needs at least rung 0")
        self.budget_s = budget_s
        self.rungs = list(rungs)
        self._tiers = list(rungs[0].strides)
        self._tier: dict[str, str] = {}
        self._position: dict[str, int] = {}
        self._next_phase = 0  # sources ever put on the ladder: the next one's phase
        self.skipped: dict[str, int] = {}  # frames left out by striding, per source
        self._admitted: dict[str, int] = {}  # frames let through, per source (one writer each)
        self._detecting: set[str] = set()  # sources with a detect rate (shown in the section)
        self._admitted_then: dict[str, int] = {}  # ... at the last change of rung
        self._rates: dict[int, dict[str, float]] = {}  # level -> frames/s let through per source there
        self._counts: deque[tuple[float, dict[str, int]]] = deque()  # (tick, ``_admitted`` then)
        self.sheds_decoding = any(rung.sheds_decoding for rung in rungs)
        for name, priority in priorities.items():
            self.add_source(name, priority, detect_rate=name in detecting)
        self._clock = clock
        self._level = 0
        self._rung = self.rungs[0]
        self._lock = threading.Lock()
        self._ages: deque[tuple[float, float]] = deque(maxlen=RECENT)  # (drawn at, age)
        self._work: deque[tuple[float, float]] = deque(maxlen=8192)  # (recorded at, seconds)
        self._started = clock()
        self._changed = self._started
        self._next_tick = 0.0
        self._headroom_since: float | None = None
        self._hold_s = UP_AFTER_S
        self._climbed: float | None = None
        self._bottom_warned = False
        self.p95_s: float | None = None
        self.busy: float | None = None
        self.steps_down = 0
        self.steps_up = 0
        self.deepest = 0

    # -- what the pipeline reads -------------------------------------------------------------------

    @property
    def level(self) -> int:
        return self._level

    @property
    def imgsz(self) -> int:
        return self._rung.imgsz

    def add_source(self, name: str, priority: str = "normal", detect_rate: bool = False) -> None:
        """Put a live source on the ladder (at start, or when one is added while running); ``detect_rate``:
        it has one (its tier's factor applies to it only if the ladder was built with detect rates)."""
        if name not in self._position:
            self._tier[name] = nearest_tier(priority, self._tiers)
            if detect_rate:
                self._detecting.add(name)
            self.skipped.setdefault(name, 0)
            self._admitted.setdefault(name, 0)
            self._position[name] = self._next_phase  # set last: ``admits`` reads it first
            self._next_phase += 1

    def remove_source(self, name: str) -> None:
        """Take a source off the ladder (removed while running); its phase is not given to another."""
        self._position.pop(name, None)
        self._tier.pop(name, None)
        self.skipped.pop(name, None)
        self._admitted.pop(name, None)
        self._detecting.discard(name)

    def admits(self, source: str, index: int) -> bool:
        """Whether the capture thread of ``source`` should hand on its frame ``index``."""
        position = self._position.get(source)
        if position is None:  # a file, or not on the ladder
            return True
        stride = self._rung.strides[self._tier.get(source, self._tiers[0])]
        if stride == 1 or index % stride == position % stride:
            # one writer per key (the source's capture thread), as for ``skipped``
            self._admitted[source] = self._admitted.get(source, 0) + 1
            return True
        self.skipped[source] = self.skipped.get(source, 0) + 1
        return False

    def skip_frame(self, source: str) -> str:
        """What the decoder of ``source`` may leave undecoded now (FFmpeg's ``skip_frame``)."""
        tier = self._tier.get(source)
        return "DEFAULT" if tier is None else self._rung.skips.get(tier, "DEFAULT")

    def detect_scale(self, source: str) -> float:
        """The factor the current rung puts on ``source``'s detect rate (1.0: as set, or not on the ladder).
        Read per frame by the batcher, so a plain read."""
        tier = self._tier.get(source)
        return 1.0 if tier is None else self._rung.detect.get(tier, 1.0)

    def gate(self, source: str) -> SourceGate | None:
        """The ``FrameGate`` a stream's decoder asks itself, or None (no decode shedding, or a source
        not on the ladder: it is asked ``admits`` after each frame, as before)."""
        return SourceGate(self, source) if self.sheds_decoding and source in self._position else None

    def section(self) -> dict[str, Any]:
        """The telemetry snapshot's ``degradation`` entry."""
        rung = self._rung
        return {
            "budget_ms": round(self.budget_s * 1e3, 1),
            "level": self._level,
            "levels": len(self.rungs) - 1,
            "rung": rung.label,
            "imgsz": rung.imgsz,
            "strides": {name: rung.strides[tier] for name, tier in self._tier.copy().items()},
            "skip_frame": {name: rung.skips.get(tier, "DEFAULT") for name, tier in self._tier.copy().items()},
            "detect_scale": {name: self.detect_scale(name) for name in self._detecting.copy()},
            "p95_ms": round(self.p95_s * 1e3, 1) if self.p95_s is not None else None,
            "inference_busy": round(self.busy, 3) if self.busy is not None else None,
            "steps_down": self.steps_down,
            "steps_up": self.steps_up,
            "deepest": self.deepest,
            "skipped": self.skipped.copy(),
        }

    # -- telemetry observer ------------------------------------------------------------------------

    def observe_stage(self, stage: str, seconds: float, source: str | None) -> None:
        if stage in WORK_STAGES:
            with self._lock:
                self._work.append((self._clock(), seconds))
        elif stage == "end_to_end" and source in self._position:
            now = self._clock()
            with self._lock:
                self._ages.append((now, seconds))
                if now < self._next_tick:
                    return
                self._next_tick = now + TICK_S
                self._decide(now)

    def observe_batch(self, size: int) -> None:
        """Batch sizes do not matter here (``SampleObserver`` protocol)."""

    # -- decisions (under the lock, on the render thread) ------------------------------------------

    def _decide(self, now: float) -> None:
        if self._climbed is not None and now - self._climbed > 2 * self._hold_s:
            self._climbed, self._hold_s = None, UP_AFTER_S  # the last climb held
        while self._work and self._work[0][0] < now - WINDOW_S:
            self._work.popleft()
        self._counts.append((now, self._admitted.copy()))
        while self._counts[0][0] < now - RATE_WINDOW_S:
            self._counts.popleft()
        since = self._changed
        recent = [(t, age) for t, age in self._ages if t - age >= since]
        if len(recent) < MIN_FRAMES:
            return
        ages = [age for _, age in recent]
        p95 = self.p95_s = float(np.percentile(ages, 95))
        busy = self.busy = self._busy(now, since)
        if p95 > self.budget_s:
            self._headroom_since = None
            waited = now - since
            if waited >= MAX_SETTLE_S or (waited >= SETTLE_S and not _draining(recent)):
                self._down(now, p95)
            return
        if self._level == 0:
            return
        ratio = self._measured_ratio(now) if self._rung.sheds_decoding else None
        if ratio is None:
            ratio = self.rungs[self._level - 1].cost / self._rung.cost
        predicted = busy * ratio
        if p95 >= HEADROOM * self.budget_s or predicted >= MAX_BUSY:
            self._headroom_since = None
        elif self._headroom_since is None:
            self._headroom_since = now
        elif now - self._headroom_since >= self._hold_s:
            self._up(now, p95, busy)

    def _busy(self, now: float, since: float) -> float:
        """Fraction of the recent window (since the last change) the inference thread spent working."""
        start = max(now - WINDOW_S, since)
        if now <= start:
            return 0.0
        return min(1.0, sum(s for t, s in self._work if t >= start) / (now - start))

    def _rates_since_change(self, now: float) -> dict[str, float] | None:
        """Frames per second let through per source on the current rung (None: too soon to say)."""
        seconds = now - self._changed
        if seconds < MIN_RATE_S:
            return None
        then = self._admitted_then
        return {s: (n - then.get(s, 0)) / seconds for s, n in self._admitted.copy().items()}

    def _recent_rates(self, now: float) -> dict[str, float] | None:
        """Frames per second let through per source over the last ``RATE_WINDOW_S`` on this rung."""
        start = next(((t, counts) for t, counts in self._counts if t >= self._changed), None)
        if start is None or now - start[0] < MIN_RATE_S:
            return None
        seconds, then = now - start[0], start[1]
        return {s: (n - then.get(s, 0)) / seconds for s, n in self._admitted.copy().items()}

    def _measured_ratio(self, now: float) -> float | None:
        """Frames the rung above let through (as measured when the ladder was last there) over frames
        let through now, for the cameras delivering now; None when either was not measured."""
        above, here = self._rates.get(self._level - 1), self._recent_rates(now)
        if not above or not here:
            return None
        names = [s for s, rate in here.items() if rate > 0 and s in above]
        done = sum(here[s] for s in names)
        if done <= 0:
            return None
        pixels = (self.rungs[self._level - 1].imgsz / self._rung.imgsz) ** 2
        return max(1.0, sum(above[s] for s in names) / done) * pixels

    def _down(self, now: float, p95: float) -> None:
        if self._level == len(self.rungs) - 1:
            if not self._bottom_warned:
                self._bottom_warned = True
                logger.warning(
                    "latency budget %.0f ms: p95 frame age %.0f ms at the last rung (%s); "
                    "older frames are dropped as without a budget",
                    self.budget_s * 1e3,
                    p95 * 1e3,
                    self._rung.label,
                )
            return
        if self._climbed is not None and now - self._climbed <= 2 * self._hold_s:
            self._hold_s = min(MAX_HOLD_S, 2 * self._hold_s)  # the climb failed: wait longer next time
        self._climbed = None
        self._set(self._level + 1, now)
        self.steps_down += 1
        self.deepest = max(self.deepest, self._level)
        logger.warning(
            "latency budget %.0f ms: p95 frame age %.0f ms; stepping down to rung %d of %d: %s",
            self.budget_s * 1e3,
            p95 * 1e3,
            self._level,
            len(self.rungs) - 1,
            self._rung.label,
        )

    def _up(self, now: float, p95: float, busy: float) -> None:
        self._set(self._level - 1, now)
        self._climbed = now
        self._bottom_warned = False
        self.steps_up += 1
        logger.warning(
            "latency budget %.0f ms: headroom (p95 %.0f ms, inference %.0f %% busy); "
            "stepping up to rung %d of %d: %s",
            self.budget_s * 1e3,
            p95 * 1e3,
            busy * 100,
            self._level,
            len(self.rungs) - 1,
            self._rung.label,
        )

    def _set(self, level: int, now: float) -> None:
        rates = self._rates_since_change(now)
        if rates:
            self._rates[self._level] = rates
        self._admitted_then = self._admitted.copy()
        self._level = level
        self._rung = self.rungs[level]
        self._changed = now
        self._headroom_since = None


class SourceGate:
    """One live source's view of the ladder (``capture.base.FrameGate``), asked by its decoder."""

    __slots__ = ("_governor", "_source")

    def __init__(self, governor: LatencyGovernor, source: str) -> None:
        self._governor = governor
        self._source = source

    def admits(self, index: int) -> bool:
        return self._governor.admits(self._source, index)

    @property
    def skip_frame(self) -> str:
        return self._governor.skip_frame(self._source)


def _draining(recent: Sequence[tuple[float, float]]) -> bool:
    """True while frame ages fall by ``DRAINING`` s or more per second (the median of the slopes between
    frames): a backlog from before the last step is still emptying, and the rung has not shown what it
    can do yet."""
    t, age = np.array(recent).T
    i, j = np.triu_indices(len(t), k=1)
    dt = t[j] - t[i]
    keep = dt > 0
    return bool(keep.any()) and float(np.median((age[j] - age[i])[keep] / dt[keep])) <= -DRAINING
