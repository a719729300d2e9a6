"""Ctrl-C and SIGTERM during a run: the first asks the pipeline to stop (recordings are finalized),
a second Ctrl-C aborts."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class StopOnSignal:
    """SIGINT/SIGTERM ask the pipeline to stop (it finalizes recordings); a second SIGINT aborts."""

    def __init__(self, stop: Any) -> None:
        self._stop = stop
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum
        self._stop()

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)

    @property
    def exit_code(self) -> int:
        return 128 + int(self.received) if self.received is not None else 0
