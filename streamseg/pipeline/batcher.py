"""Collects up to ``max_batch`` frames from the per-source queues, waiting at most ``deadline_s``.

A batch is sent as soon as it is full or its deadline passes, so a slow or stalled source never holds
back the others. Sources are visited round-robin for fairness.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Mapping

from streamseg.pipeline.lifecycle import EndOfStream, Lifecycle
from streamseg.types import Frame


class Batcher:
    def __init__(
        self,
        queues: Mapping[str, queue.Queue[Frame | EndOfStream]],
        ready: threading.Event,
        lifecycle: Lifecycle,
        max_batch: int,
        deadline_s: float,
    ) -> None:
        self._queues = dict(queues)
        self._active = list(queues)
        self._ready = ready
        self._life = lifecycle
        self._max_batch = max_batch
        self._deadline_s = deadline_s
        self._next = 0

    @property
    def finished(self) -> bool:
        return not self._active

    def next_batch(self) -> list[Frame] | None:
        """The next batch; None once every source has ended (or the pipeline stopped)."""
        batch: list[Frame] = []
        deadline: float | None = None
        while not self._life.stop.is_set() and self._active:
            self._ready.clear()
            self._collect(batch)
            if len(batch) >= self._max_batch:
                return batch
            now = time.monotonic()
            if batch:
                if deadline is None:
                    deadline = now + self._deadline_s
                if now >= deadline or not self._active:
                    return batch
                self._ready.wait(deadline - now)
            else:
                self._ready.wait(self._life.poll_s)
        return batch or None

    def _collect(self, batch: list[Frame]) -> None:
        """One round-robin pass taking at most one frame per source, repeated until nothing is waiting."""
        progressed = True
        while progressed and len(batch) < self._max_batch and self._active:
            progressed = False
            order = self._active[self._next :] + self._active[: self._next]
            for name in order:
                if len(batch) >= self._max_batch:
                    break
                try:
                    item = self._queues[name].get_nowait()
                except queue.Empty:
                    continue
                progressed = True
                if isinstance(item, EndOfStream):
                    self._active.remove(name)
                else:
                    batch.append(item)
            if self._active:
                self._next = (self._next + 1) % len(self._active)
