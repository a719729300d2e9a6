"""The malloc-arena cap for long live runs: harmless everywhere, a no-op when the environment sets it."""

from __future__ import annotations

import sys

import pytest

from streamseg.allocator import limit_malloc_arenas


def test_caps_arenas_on_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas(2) is sys.platform.startswith("linux")


def test_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas(2) is False
