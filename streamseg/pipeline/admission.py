"""Whether one more source may join a running pipeline: a hard cap, and a share of inference that
would leave every source a useful frame rate.

An outside probe added 100 cameras to a run on two cores: 732 threads, +685 MB, and the first two
cameras fell from 12 fps to 0.5 and 0 without a word. Now an add is refused with one line when the
run already has ``sources.max`` sources, or when the inference thread's measured capacity, shared
among one more source, would give each fewer than ``sources.min_fps`` processed frames per second.
Under ``--latency-budget`` the ladder still degrades what is admitted; this only refuses what even a
fair share could not serve.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from streamseg.config import SourceRules, max_sources
from streamseg.errors import SourceLimitError

WINDOW_S = 5.0  # capacity is judged on the last 5 s of inference work ...
MIN_EVIDENCE_S = 2.0  # ... once there are 2 s of it (before that, an add is not judged on speed)
WORK_STAGES = frozenset({"preprocess", "infer", "postprocess", "refine"})


class InferenceCapacity:
    """A telemetry observer: frames the inference thread finishes per second of its own work, over the
    last ``WINDOW_S``. Work time is wall time, so a CPU crowded by decoding shows up as less capacity."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._work: deque[tuple[float, float]] = deque(maxlen=8192)  # (when, seconds of work)
        self._frames: deque[tuple[float, int]] = deque(maxlen=8192)  # (when, frames in the batch)

    def observe_stage(self, stage: str, seconds: float, source: str | None) -> None:
        if stage in WORK_STAGES:  # recorded per frame: each frame's share of its batch's work
            with self._lock:
                self._work.append((self._clock(), seconds))

    def observe_batch(self, size: int) -> None:
        with self._lock:
            self._frames.append((self._clock(), size))

    def frames_per_second(self) -> float | None:
        """Frames per second the inference thread could finish if it never waited; None until there is
        ``MIN_EVIDENCE_S`` of evidence."""
        now = self._clock()
        since = now - WINDOW_S
        with self._lock:
            work = sum(s for t, s in self._work if t >= since)
            frames = sum(n for t, n in self._frames if t >= since)
            first = next((t for t, _ in self._frames if t >= since), None)
        if first is None or now - first < MIN_EVIDENCE_S or work <= 0 or frames == 0:
            return None
        return frames / work


def check_admission(rules: SourceRules, running: int, capacity_fps: float | None) -> None:
    """Raise ``SourceLimitError`` when a source beyond ``running`` must be refused (see the module)."""
    limit = max_sources(rules)
    if running >= limit:
        raise SourceLimitError(
            f"{running} sources are running, the limit (sources.max = {limit}); remove one first, "
            "or start the run with a higher --max-sources"
        )
    if capacity_fps is None or rules.min_fps <= 0:
        return
    share = capacity_fps / (running + 1)
    if share < rules.min_fps:
        raise SourceLimitError(
            f"no room for another source: inference keeps up with about {capacity_fps:.1f} frames/s, "
            f"{share:.1f} each for {running + 1} sources, under sources.min_fps = {rules.min_fps:g}"
        )
