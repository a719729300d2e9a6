"""Where a Linux process's resident memory is: anonymous vs file-backed pages, and glibc's heap.

A leak and a creeping RSS are not the same thing. RSS also counts library code paged in the first time a
path runs (``RssFile``), and free heap that glibc holds on to (fragmentation). This splits them:

* ``rss_anon`` / ``rss_file`` from ``/proc/self/status`` (RssAnon, RssFile + RssShmem),
* glibc's ``mallinfo2()``: ``heap_used`` (bytes handed out by malloc, arenas and mmap'd chunks together),
  ``heap_free`` (free bytes malloc keeps in its arenas), ``heap_mmap`` (large chunks mapped one by one),
* from ``/proc/self/smaps``: ``heap_rss`` (resident pages of the main heap, ``[heap]``: with one arena,
  where small and, once glibc has raised its mmap threshold, frame-sized blocks live), ``stack_rss``
  (thread stacks: 8 MiB anonymous mappings) and ``mmap_rss`` (every other anonymous mapping: large
  malloc blocks, Python's object arenas, libraries' own pools),
* ``threads`` and ``fds`` (open file descriptors: sockets, recordings, pipes; a reconnect must give its
  own back).

A real leak shows as ``heap_used`` growing; fragmentation as ``heap_free`` growing with ``heap_used``
flat; allocations outside malloc (Python's small-object arenas are malloc'd too, so mostly other mmaps)
as ``rss_anon`` growing with both flat. Used by ``soak_rtsp.py``; runs anywhere, with keys missing where
the kernel or libc does not provide them. ``python -m tools.memory_breakdown`` prints this process's own.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import os
from pathlib import Path

COUNTS = ("threads", "fds")  # plain counts; every other key is bytes
_STATUS_KEYS = {"RssAnon": "rss_anon", "RssFile": "rss_file", "RssShmem": "rss_shmem", "Threads": "threads"}


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
            "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _mallinfo2() -> _MallInfo2 | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        fn = ctypes.CDLL(name).mallinfo2  # glibc >= 2.33
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2
    info: _MallInfo2 = fn()
    return info


def _smaps() -> dict[str, int]:
    """Resident bytes of the anonymous mappings by kind (see the module docstring)."""
    out = {"heap_rss": 0, "stack_rss": 0, "mmap_rss": 0}
    try:
        text = Path("/proc/self/smaps").read_text()
    except OSError:
        return {}
    kind: str | None = None
    for line in text.splitlines():
        first = line.split(maxsplit=6)
        if "-" in first[0] and len(first) >= 5 and ":" in first[3]:  # a mapping's header line
            start, _, end = first[0].partition("-")
            path = first[5] if len(first) > 5 else ""
            size_kib = (int(end, 16) - int(start, 16)) // 1024
            if path == "[heap]":
                kind = "heap_rss"
            elif path and not path.startswith("[anon"):
                kind = None  # files, [vdso], [stack] of the main thread ...
            else:
                kind = "stack_rss" if size_kib == 8192 else "mmap_rss"
        elif kind is not None and first[0] == "Rss:":
            out[kind] += int(first[1]) * 1024
    return out


def memory_breakdown() -> dict[str, int]:
    """Bytes (and a thread count) as described in the module docstring."""
    out: dict[str, int] = {}
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        key, _, value = line.partition(":")
        if key in _STATUS_KEYS:
            number = int(value.split()[0])
            out[_STATUS_KEYS[key]] = number if key == "Threads" else number * 1024
    with contextlib.suppress(OSError):
        out["fds"] = len(os.listdir("/proc/self/fd"))
    out.update(_smaps())
    info = _mallinfo2()
    if info is not None:
        out["heap_used"] = int(info.uordblks + info.hblkhd)
        out["heap_free"] = int(info.fordblks)
        out["heap_mmap"] = int(info.hblkhd)
    return out


def main() -> int:
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    for k, v in memory_breakdown().items():
        print(f"{k:10s} {v if k in COUNTS else f'{v / 2**20:.1f} MiB'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
