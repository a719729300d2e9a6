"""Keep a long-running process's memory flatter: fewer glibc malloc arenas.

glibc gives threads their own malloc arenas (up to 8 per core). With capture, decoder, inference and
encoder threads churning through frame-sized buffers, and every camera reconnect starting new decoder
threads, the arenas fragment and RSS creeps up although no Python object count grows. Measured with
4 RTSP cameras and a server killed or frozen every ~8 s: +10 % RSS from 40 s to 200 s with glibc's
defaults, +1.8 % with two arenas. ``MALLOC_ARENA_MAX`` in the environment wins over this cap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

logger = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # from glibc's malloc.h


def limit_malloc_arenas(arenas: int = 2) -> bool:
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
