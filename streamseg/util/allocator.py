"""Keep a long-running process's memory flat: one glibc malloc arena, and free heap given back.

**One arena.**
glibc gives threads their own malloc arenas (up to 8 per core). With capture, decoder, inference and
encoder threads churning through frame-sized buffers, and every camera reconnect starting new decoder
threads, each arena fragments on its own and RSS creeps up although no Python object count grows.
Measured with ``tools/soak_rtsp.py`` (4 RTSP cameras, the server killed or frozen every ~30 s, two
soaks side by side for 10 minutes): RSS grew +3.5 % with two arenas and +1.7 % with one (an earlier
session saw +10 % from 40 s to 200 s with glibc's defaults, +1.8 % with two arenas). One arena cost no
measurable speed on the 2-core development box: ``python -m tools.bench_malloc --rounds 4`` (720p file, record
on) gave median wall times of 29.3 s with one arena and 29.7 s with two (ratio 0.987, within noise).
``MALLOC_ARENA_MAX`` in the environment wins over this cap.

**Free heap given back** (``HeapTrimmer``). With one arena the creep that was left (+2.1 % from minute 2
to minute 30 of the soak) was free heap, not memory in use: ``tools/memory_breakdown.py`` showed heap in
use flat (+0.4 MiB) and free heap growing (+4.3 MiB). glibc raises its mmap threshold each time a large
block is freed (up to 32 MiB), so after the first batch tensor is freed, frame-sized buffers (decoded
frames, letterbox, batch, drawn frames) are carved out of the heap itself; as they come and go between
long-lived small objects they leave holes that only ``malloc_trim`` returns to the kernel (glibc trims
the top of the heap, not the middle). Pinning the threshold (``MALLOC_MMAP_THRESHOLD_=131072``) also
flattened RSS, but cost ~10 % of a 720p recording's wall time (``tools/bench_malloc.py``, every frame
buffer mapped and page-faulted afresh); ``malloc_trim(0)`` every 10 s costs 1-9 ms of one call and
nothing per frame.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

from streamseg.util.periodic import Every

logger = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # from glibc's malloc.h
TRIM_EVERY_S = 10.0


def limit_malloc_arenas(arenas: int = 1) -> bool:
    """Cap glibc's malloc arenas for threads created from now on; False where it does not apply."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        ok = bool(ctypes.CDLL(name).mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    logger.debug("malloc arenas capped at %d: %s", arenas, ok)
    return ok


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018 - glibc only (musl has none)
    except (OSError, AttributeError):
        return None
    return libc


class HeapTrimmer:
    """Calls ``malloc_trim(0)`` every ``every_s`` seconds, on a thread of its own, while a pipeline runs."""

    def __init__(self, every_s: float = TRIM_EVERY_S) -> None:
        self.trims = 0
        self._libc = _glibc()
        self.thread = Every(every_s, self._trim, "heap-trim")

    def start(self) -> HeapTrimmer:
        if self._libc is not None:  # nothing to do off glibc: no thread at all
            self.thread.start()
        return self

    def stop(self) -> None:
        self.thread.stop()

    def _trim(self) -> None:
        if self._libc is not None:
            self._libc.malloc_trim(0)
            self.trims += 1
