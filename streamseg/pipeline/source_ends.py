"""What sources added and removed while a pipeline runs need: knowing when a source's last frame is
through the render thread, and recording names that never overwrite an earlier file.

``Pipeline.add_source`` / ``remove_source`` use these; the stage loops stay unaware of them.
"""

from __future__ import annotations

import threading
from pathlib import Path

from streamseg.record.writer import segment_path
from streamseg.types import SegResult, UInt8Array

WAIT_STEP_S = 0.05


class SourceEnds:
    """A sink fed last by the render thread: records which sources have had their last frame drawn,
    so ``remove_source`` can return once that source's outputs are finalized."""

    needs_annotated = False

    def __init__(self) -> None:
        self._ended: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def write(self, result: SegResult, annotated: UInt8Array | None) -> None:
        """Frames are of no interest here, only ends."""

    def close(self) -> None:
        """Nothing to release."""

    def end_source(self, name: str) -> None:
        self._event(name).set()

    def ended(self, name: str) -> bool:
        return self._event(name).is_set()

    def wait(self, name: str, timeout: float, stop: threading.Event) -> bool:
        """True once ``name`` ended; False after ``timeout`` s or when ``stop`` is set first."""
        event = self._event(name)
        remaining = timeout
        while remaining > 0 and not stop.is_set():
            if event.wait(min(WAIT_STEP_S, remaining)):
                return True
            remaining -= WAIT_STEP_S
        return event.is_set()

    def forget(self, name: str) -> None:
        """The name may be used again by a new source."""
        with self._lock:
            self._ended.pop(name, None)

    def _event(self, name: str) -> threading.Event:
        with self._lock:
            return self._ended.setdefault(name, threading.Event())


def free_record_path(path: Path) -> Path:
    """``path``, or ``stem-2.mp4``, ``stem-3.mp4`` ... when a recording (or its first ``--segment`` file)
    is already there: a source added again under an old name starts its own file."""
    n = 1
    candidate = path
    while candidate.exists() or segment_path(candidate, 0).exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate
