"""Keep a long-running process's memory flatter: one glibc malloc arena for all threads.

glibc gives threads their own malloc arenas (up to 8 per core). With capture, decoder, inference and
encoder threads churning through frame-sized buffers, and every camera reconnect starting new decoder
threads, each arena fragments on its own and RSS creeps up although no Python object count grows.
Measured with ``tools/soak_rtsp.py`` (4 RTSP cameras, the server killed or frozen every ~30 s, two
soaks side by side for 10 minutes): RSS grew +3.5 % with two arenas and +1.7 % with one (an earlier
session saw +10 % from 40 s to 200 s with glibc's defaults, +1.8 % with two arenas). One arena cost no
measurable speed on the 2-core development box: ``tools/bench_malloc.py --rounds 4`` (720p file, record
on) gave median wall times of 29.3 s with one arena and 29.7 s with two (ratio 0.987, within noise).
``MALLOC_ARENA_MAX`` in the environment wins over this cap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

logger = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # from glibc's malloc.h


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
