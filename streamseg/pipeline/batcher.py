"""Collects up to ``max_batch`` frames from the per-source queues, waiting at most ``deadline_s``.

A batch is sent as soon as it is full or its deadline passes, so a slow or stalled source never holds
back the others. Sources are visited round-robin for fairness. Sources can join while it runs (``add``);
the names of those that ended are handed on (``take_ended``) so their outputs can be finalized in order.

With a frame selection (detect rates, motion: ``pipeline/selection``) each frame is marked as it is taken;
frames the network will not see ride in the batch, in their sources' order, without taking a place in
it, and a batch of only those goes out at once.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping

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
        *,
        stay_open: bool = False,
        select: Callable[[Frame], str] | None = None,
    ) -> None:
        """``select(frame)``: marks ``frame.inference`` (``FrameSelection.decide``), in frame order."""
        self._queues = dict(queues)
        self._active = list(queues)
        self._ready = ready
        self._life = lifecycle
        self._max_batch = max_batch
        self._deadline_s = deadline_s
        self._next = 0
        self._stay_open = stay_open  # with no source left, wait for new ones instead of finishing
        self._lock = threading.Lock()  # guards _joining and _closed: add() runs on other threads
        self._joining: list[tuple[str, queue.Queue[Frame | EndOfStream]]] = []
        self._retiring: set[str] = set()
        self._closed = False
        self._ended: list[str] = []
        self._select = select

    @property
    def finished(self) -> bool:
        return self._closed

    def add(self, name: str, q: queue.Queue[Frame | EndOfStream]) -> bool:
        """Take frames from ``q`` too, from the next batch on; False when the batcher has finished."""
        with self._lock:
            if self._closed:
                return False
            self._joining.append((name, q))
        self._ready.set()
        return True

    def retire(self, name: str) -> None:
        """End ``name`` at the next batch: frames of it still queued are dropped, and its end is handed
        on as if its stream had ended. Removal then waits for no capture thread, which may sit in a
        network read for its whole timeout."""
        with self._lock:
            self._retiring.add(name)
        self._ready.set()

    def take_ended(self) -> list[str]:
        """Sources whose end was reached since the last call (every frame of theirs already batched)."""
        ended, self._ended = self._ended, []
        return ended

    def next_batch(self) -> list[Frame] | None:
        """The next batch; None once every source has ended (or the pipeline stopped).

        A batch may be cut short (even empty) when a source has just ended, so its end is passed on now.
        """
        batch: list[Frame] = []
        deadline: float | None = None
        while not self._life.stop.is_set() and self._has_sources():
            self._ready.clear()
            self._collect(batch)
            inferred = _inferred(batch)
            if inferred >= self._max_batch or self._ended or (batch and not inferred):
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

    def _has_sources(self) -> bool:
        """Adopt sources that joined; decide (once, under the lock) that there will be no more."""
        with self._lock:
            if self._joining:
                for name, q in self._joining:
                    self._queues[name] = q
                    self._active.append(name)
                self._joining.clear()
            for name in self._retiring:
                if name in self._queues:
                    self._active.remove(name)
                    del self._queues[name]
                    self._ended.append(name)
                    self._next = self._next % len(self._active) if self._active else 0
            self._retiring.clear()
            if not self._active and not self._stay_open:
                self._closed = True
            return not self._closed

    def _collect(self, batch: list[Frame]) -> None:
        """One round-robin pass taking at most one frame per source, repeated until nothing is waiting."""
        progressed = True
        taken = _inferred(batch)
        while progressed and taken < self._max_batch and self._active:
            progressed = False
            order = self._active[self._next :] + self._active[: self._next]
            for name in order:
                if taken >= self._max_batch:
                    break
                try:
                    item = self._queues[name].get_nowait()
                except queue.Empty:
                    continue
                progressed = True
                if isinstance(item, EndOfStream):
                    self._active.remove(name)
                    del self._queues[name]
                    self._ended.append(name)
                else:
                    batch.append(item)
                    if self._select is None or self._select(item) == "inferred":
                        taken += 1
            if self._active:
                self._next = (self._next + 1) % len(self._active)


def _inferred(batch: list[Frame]) -> int:
    return sum(1 for frame in batch if frame.inference == "inferred")
