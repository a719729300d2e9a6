"""The malloc-arena cap for long live runs: harmless everywhere, a no-op when the environment sets it."""

from __future__ import annotations

import sys
import time

import pytest

from streamseg.util.allocator import HeapTrimmer, limit_malloc_arenas


def test_caps_arenas_on_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas(2) is sys.platform.startswith("linux")


def test_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas(2) is False


def test_heap_trimmer_trims_while_running_and_stops() -> None:
    trimmer = HeapTrimmer(every_s=0.01).start()
    deadline = time.monotonic() + 10
    while trimmer.trims < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    trimmer.stop()
    assert not trimmer.thread.alive
    assert trimmer.trims >= 3 or not sys.platform.startswith("linux")
