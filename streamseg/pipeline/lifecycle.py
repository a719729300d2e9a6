"""Shared stop/failure state: the first error anywhere stops everything and is re-raised by ``join``."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Final

from streamseg.gpu.failures import as_gpu_error

logger = logging.getLogger(__name__)


class EndOfStream:
    """Queue sentinel: the producer of this queue is done."""

    __slots__ = ("source",)

    def __init__(self, source: str = "") -> None:
        self.source = source

    def __repr__(self) -> str:
        return f"EndOfStream({self.source!r})"


END: Final = EndOfStream()


class Lifecycle:
    """One stop event and the first failure; stages poll ``stop`` on every timeout."""

    def __init__(self, poll_s: float) -> None:
        self.stop = threading.Event()
        self.poll_s = poll_s
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._deferred: list[BaseException] = []

    def fail(self, error: BaseException, where: str) -> None:
        """Record the first error and stop the pipeline; later errors are logged only. A GPU failure is
        kept as the ``GpuError`` that names its way round (``gpu.failures``), the original its cause."""
        with self._lock:
            if self._error is None:
                self._error = as_gpu_error(error) or error
                logger.debug("%s failed; stopping the pipeline", where, exc_info=error)
            else:
                logger.debug("%s also failed after the first error: %r", where, error)
        self.stop.set()

    def defer(self, error: BaseException) -> None:
        """An error to report after the run drains (a corrupt tail in one file must not lose other frames)."""
        with self._lock:
            self._deferred.append(error)

    @property
    def error(self) -> BaseException | None:
        with self._lock:
            return self._error or (self._deferred[0] if self._deferred else None)

    def put(self, q: queue.Queue[Any], item: Any, cancel: threading.Event | None = None) -> bool:
        """Blocking put that gives up when the pipeline stops (or ``cancel`` is set: a source removed);
        False means it gave up."""
        while not self.stop.is_set() and not (cancel is not None and cancel.is_set()):
            try:
                q.put(item, timeout=self.poll_s)
                return True
            except queue.Full:
                continue
        return False

    def get(self, q: queue.Queue[Any]) -> Any:
        """Blocking get that gives up when the pipeline stops; None means it stopped."""
        while not self.stop.is_set():
            try:
                return q.get(timeout=self.poll_s)
            except queue.Empty:
                continue
        return None


def drain(q: queue.Queue[Any]) -> int:
    """Discard what is left in a queue (after stop) so no producer stays blocked."""
    n = 0
    while True:
        try:
            q.get_nowait()
            n += 1
        except queue.Empty:
            return n
