"""Capture threads a finished pipeline left inside a network open or read.

PyAV's timeout callback takes the GIL from inside FFmpeg. If the interpreter is already shutting down
when such a thread's network call next polls it, the process dies with SIGSEGV. So a Python program that
used a pipeline waits for those threads at exit, no longer than the source timeout that bounds their call
(plus a margin). The ``streamseg`` command does not wait: its outputs are final, and it leaves with
``os._exit`` (``streamseg.cli.entry``).
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Iterable

MARGIN_S = 2.0  # FFmpeg polls the callback every ~100 ms; the rest is the thread's own unwinding

_lock = threading.Lock()
_waiting: list[tuple[threading.Thread, float]] = []  # (thread, seconds its network call can still take)


def wait_at_exit(threads: Iterable[threading.Thread], bound_s: float) -> None:
    """Join ``threads`` before the interpreter shuts down, each for at most ``bound_s`` + a margin."""
    with _lock:
        _waiting.extend((t, bound_s + MARGIN_S) for t in threads)


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
