"""``QueuedSink``: a bounded queue drained by one daemon thread, so a slow or dead sink never stalls the
thread that calls ``send`` (the render thread, once per event).

``send`` takes a lock, appends to a deque and wakes the worker: O(1), no I/O, no logging. When the
queue is full the *oldest* event goes (a live consumer wants what is happening now), counted in
``dropped``. The worker hands batches to the subclass's ``_deliver``; what it could not deliver goes
back to the head of the queue and the worker waits out a jittered exponential backoff, so everything
queued is delivered, in order, once the other side is back.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from streamseg.util.closing import ClosesOnExit

logger = logging.getLogger(__name__)

T = TypeVar("T")

CONNECTING = "connecting"  # not (yet) proven reachable since start
CONNECTED = "connected"  # the last attempt reached the other side
RECONNECTING = "reconnecting"  # it was reachable, is not now: retrying with backoff
CLOSED = "closed"  # close() was called: send() only counts drops
DROP_LOG_INTERVAL_S = 10.0  # at most one "events dropped" warning per sink this often


class Backoff:
    """Delays between retries: ``initial_s`` doubling up to ``max_s``, each ±``jitter`` (20 %) so that
    many sinks (or many runs) that lost the same server do not all come back at the same instant."""

    def __init__(self, initial_s: float = 0.5, max_s: float = 30.0, jitter: float = 0.2) -> None:
        if initial_s <= 0 or max_s < initial_s or not 0 <= jitter < 1:
            raise ValueError(f"bad backoff: initial {initial_s}, max {max_s}, jitter {jitter}")
        self.initial_s = initial_s
        self.max_s = max_s
        self.jitter = jitter
        self.attempts = 0
        self._rng = random.Random()

    def next_delay(self) -> float:
        """The delay before the next retry (and one more failed attempt counted)."""
        step = min(self.initial_s * 2.0 ** min(self.attempts, 64), self.max_s)
        self.attempts += 1
        return step * self._rng.uniform(1.0 - self.jitter, 1.0 + self.jitter)

    def reset(self) -> None:
        """After a success: the next failure starts again from ``initial_s``."""
        self.attempts = 0


def to_json(event: Mapping[str, Any]) -> str:
    """Compact strict JSON; NumPy scalars and arrays become numbers and lists."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_plain)


def _plain(value: object) -> object:
    tolist = getattr(value, "tolist", None)  # NumPy scalars and arrays
    if callable(tolist):
        return tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class QueuedSink(ClosesOnExit, Generic[T]):
    """Base of every sink: ``_put`` never blocks; subclasses implement ``_deliver`` and may override
    ``_room`` / ``_idle`` / ``_shutdown``, then call ``_start()`` at the end of their ``__init__``.

    ``name`` is the sink's kind, the Prometheus label ``{sink}``; ``target`` says where it delivers
    (credentials masked). ``state`` is one of ``connecting`` (nothing reached yet), ``connected``,
    ``reconnecting`` (reachable before, retrying now) and ``closed``.
    """

    name = "sink"

    def __init__(
        self,
        target: str,
        queue_size: int = 1000,
        *,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.target = target
        self.queue_size = queue_size
        self._queue: deque[T] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._backoff = Backoff(backoff_initial_s, backoff_max_s)
        self._dropped = 0
        self._delivered = 0
        self._state = CONNECTING
        self._closing = False  # close() called: send() refuses, the worker drains then stops
        self._abort = False  # the close deadline passed: the worker stops at once
        self._drain_by: float | None = None  # monotonic time the worker stops draining
        self._close_by: float | None = None  # monotonic time close() returns at the latest
        self._retry_after_s: float | None = None  # a delay the other side asked for (HTTP Retry-After)
        self._drops_logged = 0
        self._drops_logged_at = -DROP_LOG_INTERVAL_S
        self._thread = threading.Thread(target=self._run, name=f"sink-{self.name}", daemon=True)

    # ---- the caller's side ------------------------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Events lost: pushed out of a full queue, refused by the other side, or still queued at close."""
        return self._dropped

    @property
    def delivered(self) -> int:
        """Events the other side accepted (an MQTT PUBACK, an HTTP 2xx, a line written)."""
        return self._delivered

    @property
    def queued(self) -> int:
        """Events waiting in the queue now."""
        return len(self._queue)

    @property
    def state(self) -> str:
        return self._state

    def _put(self, item: T) -> None:
        """Queue ``item``; when full, drop the oldest. Never blocks, never does I/O."""
        with self._cond:
            if self._closing:
                self._dropped += 1
                return
            if len(self._queue) >= self.queue_size:
                self._queue.popleft()
                self._dropped += 1
            self._queue.append(item)
            self._cond.notify()

    def close(self, timeout: float = 2.0) -> None:
        """Deliver what can be within ``timeout`` seconds, then stop; what is left counts as dropped.
        Never waits longer than ``timeout`` (a stuck worker is a daemon thread and finishes on its own)."""
        now = time.monotonic()
        with self._cond:
            if self._close_by is not None:
                return
            self._closing = True
            self._close_by = now + max(0.0, timeout)
            self._drain_by = now + max(0.0, timeout - self._shutdown_reserve_s(timeout))
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(max(0.0, self._close_by - time.monotonic()))
        with self._cond:
            self._abort = True
            self._discard_queue_locked()
            self._cond.notify_all()
        self._state = CLOSED
        logger.debug(
            "%s sink %s closed: %d delivered, %d dropped",
            self.name,
            self.target,
            self._delivered,
            self._dropped,
        )

    # ---- for subclasses ---------------------------------------------------------------------------

    def _deliver(self, batch: list[T]) -> int:
        """Deliver ``batch`` (oldest first); return how many from its head are done (delivered or
        refused, counted by the subclass). The rest goes back to the queue and the worker backs off; items
        already dealt with (an event that is not JSON, dropped and counted) may be deleted from ``batch``
        in place first, so that they are not retried."""
        raise NotImplementedError

    def _room(self) -> int:
        """How many items the next ``_deliver`` may take (0: wait); called with the queue lock held."""
        return 1

    def _idle(self) -> bool:
        """Nothing handed over is still unconfirmed (close waits for this); called with the lock held."""
        return True

    def _shutdown(self) -> None:
        """Release the connection or file; runs on the worker thread when it stops."""

    def _shutdown_reserve_s(self, timeout: float) -> float:
        """Of close's timeout, the part kept for ``_shutdown`` rather than for draining the queue."""
        return min(0.1, timeout / 4)

    def _start(self) -> None:
        self._thread.start()

    def _set_state(self, state: str) -> None:
        if self._state != CLOSED:
            self._state = state

    def _count(self, *, delivered: int = 0, dropped: int = 0) -> None:
        with self._cond:
            self._delivered += delivered
            self._dropped += dropped

    def _poke(self) -> None:
        """Wake the worker (a connection came up, an acknowledgement arrived)."""
        with self._cond:
            self._cond.notify_all()

    def _encode(self, event: Mapping[str, Any]) -> str | None:
        """The event as JSON, or None (dropped, counted, logged) when it cannot be encoded."""
        try:
            return to_json(event)
        except (TypeError, ValueError) as exc:
            self._count(dropped=1)
            logger.warning("%s sink: dropped an event that is not JSON (%s): %.200r", self.name, exc, event)
            return None

    # ---- the worker -------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._work()
        except Exception:  # a bug in a sink must not take the run down; its events are lost from here
            self._state = CLOSED
            logger.exception(
                "%s sink %s: worker failed; no more events are delivered", self.name, self.target
            )
        finally:
            with self._cond:
                self._closing = self._abort = True  # send() only counts from here
                self._discard_queue_locked()
            try:
                self._shutdown()
            except Exception:  # the sink is going away anyway; say why it did not go cleanly
                logger.exception("%s sink %s: error while closing", self.name, self.target)

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if not batch:
                self._log_drops()
                continue
            done = self._deliver(batch)
            if done >= len(batch):
                self._backoff.reset()
                continue
            self._push_back(batch[done:])
            delay = self._backoff.next_delay()
            if self._retry_after_s is not None:  # what the server asked, up to the backoff's maximum
                delay = max(delay, min(self._retry_after_s, self._backoff.max_s))
                self._retry_after_s = None
            self._pause(delay)

    def _next_batch(self) -> list[T] | None:
        """Wait for work the sink can take now; None when it is time to stop, [] when drops need saying."""
        with self._cond:
            while True:
                if self._abort:
                    return None
                if self._drops_to_log():
                    return []
                room = self._room() if self._queue else 0
                if room > 0:
                    return [self._queue.popleft() for _ in range(min(room, len(self._queue)))]
                if self._closing and not self._queue and self._idle():
                    return None
                wait: float | None = None
                if self._drain_by is not None:
                    wait = self._drain_by - time.monotonic()
                    if wait <= 0:
                        self._abort = True
                        continue
                self._cond.wait(wait)

    def _push_back(self, items: list[T]) -> None:
        """Undelivered items return to the head; if the queue overflowed meanwhile, the oldest go."""
        with self._cond:
            self._queue.extendleft(reversed(items))
            while len(self._queue) > self.queue_size:
                self._queue.popleft()
                self._dropped += 1

    def _pause(self, seconds: float) -> None:
        """Back off for ``seconds``, cut short by the close deadline."""
        end = time.monotonic() + seconds
        with self._cond:
            while not self._abort:
                limit = end if self._drain_by is None else min(end, self._drain_by)
                remaining = limit - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)

    def _discard_queue_locked(self) -> None:
        self._dropped += len(self._queue)
        self._queue.clear()

    def _drops_to_log(self) -> bool:
        return (
            self._dropped > self._drops_logged
            and time.monotonic() - self._drops_logged_at >= DROP_LOG_INTERVAL_S
        )

    def _log_drops(self) -> None:
        """Dropping is counted by ``send`` but said here, on the worker (never under the queue lock:
        a slow log handler must not hold up ``send``), at most every 10 s."""
        dropped = self._dropped
        if self._drops_to_log():
            self._drops_logged = dropped
            self._drops_logged_at = time.monotonic()
            logger.warning(
                "%s sink %s: %d events dropped so far (queue of %d full, or events refused)",
                self.name, self.target, dropped, self.queue_size,
            )  # fmt: skip
