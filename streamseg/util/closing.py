"""``with obj:`` closes ``obj`` on the way out: one mixin instead of the same two methods everywhere."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

_C = TypeVar("_C", bound="ClosesOnExit")


class ClosesOnExit:
    """Mixin for anything with an idempotent ``close()`` (writers, progress bars)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
