"""Test doubles: a clock that only moves when told, and a memory probe with fixed readings."""

from __future__ import annotations


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeMemory:
    def __init__(self, **values: int) -> None:
        self.values = values
        self.closed = False

    def read(self) -> dict[str, int]:
        return dict(self.values)

    def close(self) -> None:
        self.closed = True
