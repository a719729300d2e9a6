"""Disk used per video source of the run: its recordings (every file its writers made, segments
included), its event clips and its snapshots (each in a folder named after the source), for the status
and ``/metrics``. A source that left is no longer reported (its files stay, and retention counts them).

Files are only stat'ed, at most once every ``every_s``: the status is asked for every second, and a
clip folder may hold thousands of files.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from streamseg.config import Config
from streamseg.redact import safe_name

EVERY_S = 5.0


class DiskUse:
    def __init__(
        self,
        cfg: Config,
        recordings: Callable[[], dict[str, list[Path]]],
        every_s: float = EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``recordings()``: each source of the run now and its recording files
        (``RecordingSink.files_by_source``)."""
        self._recordings = recordings
        self._folders = [Path(f) for f in (cfg.output.clips, cfg.events.snapshots) if f]
        self._every_s = every_s
        self._clock = clock
        self._at = float("-inf")
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()

    def bytes_by_source(self) -> dict[str, int]:
        recordings = self._recordings()
        with self._lock:
            if self._clock() - self._at >= self._every_s:
                self._last = self._measure(recordings)
                self._at = self._clock()
            return {name: self._last.get(name, 0) for name in recordings}

    def _measure(self, recordings: dict[str, list[Path]]) -> dict[str, int]:
        used = {name: sum(_size(p) for p in paths) for name, paths in recordings.items()}
        folders = {safe_name(name): name for name in used}
        for root in self._folders:
            for folder in _subfolders(root):
                name = folders.get(folder.name)
                if name is not None:
                    used[name] += sum(_size(p) for p in _files(folder))
        return used


def _subfolders(root: Path) -> list[Path]:
    try:
        return [p for p in root.iterdir() if p.is_dir()]
    except OSError:
        return []


def _files(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def _size(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else 0
    except OSError:  # deleted by retention meanwhile
        return 0
