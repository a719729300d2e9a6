"""Capture threads a finished pipeline left inside a network open or read.

PyAV's timeout callback takes the GIL from inside FFmpeg. If the interpreter is already shutting down
when such a thread's network call next polls it, the process dies with SIGSEGV. So a Python program that
used a pipeline waits for those threads at exit, no longer than the source timeout that bounds their call
(plus a margin). The ``streamseg`` command does not wait: its outputs are final, and it leaves with
``os._exit`` (``streamseg.cli.entry``).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Iterable

logger = logging.getLogger(__name__)

MARGIN_S = 2.0  # FFmpeg polls the callback every ~100 ms; the rest is the thread's own unwinding

_lock = threading.Lock()
_waiting: list[tuple[threading.Thread, float]] = []  # (thread, seconds its network call can still take)


def wait_at_exit(threads: Iterable[threading.Thread], bound_s: float) -> None:
    """Join ``threads`` before the interpreter shuts down, each for at most ``bound_s`` + a margin."""
    with _lock:
        _waiting.extend((t, bound_s + MARGIN_S) for t in threads)


def leave_behind(
    threads: Iterable[threading.Thread], capture_prefix: str, waited_s: float, bound_s: float
) -> None:
    """After a pipeline's join: capture threads still alive are inside a network call that
    ``bound_s`` bounds (waited for at exit); any other thread still alive is worth a warning."""
    stuck = [t for t in threads if t.is_alive()]
    waiting = [t for t in stuck if t.name.startswith(capture_prefix)]
    busy = [t.name for t in stuck if t not in waiting]
    if waiting:
        logger.info("left behind, still waiting on the network: %s", ", ".join(t.name for t in waiting))
        wait_at_exit(waiting, bound_s)
    if busy:
        logger.warning("threads still busy after %.1f s: %s", waited_s, ", ".join(busy))


def still_waiting() -> bool:
    """Whether a thread left behind is still inside its network call."""
    with _lock:
        return any(t.is_alive() for t, _ in _waiting)


def _join_left_behind() -> None:
    with _lock:
        waiting = [(t, bound) for t, bound in _waiting if t.is_alive()]
        _waiting.clear()
    start = time.monotonic()
    for thread, bound in waiting:
        thread.join(max(0.0, start + bound - time.monotonic()))


atexit.register(_join_left_behind)  # a no-op unless a pipeline left a thread behind
