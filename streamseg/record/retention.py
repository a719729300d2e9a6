"""``--retain 7d`` / ``--retain-size 50GB``: which of a run's files go, oldest first.

Only files a run of streamseg writes are candidates (a ``Root`` names the folder and the patterns of
its own files: ``out*.mp4`` beside ``--record out.mp4``, ``*.jpg`` in the snapshot folder), never
anything else in those folders, and never a file being written now.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Root:
    """A folder and the glob patterns of the files streamseg writes there."""

    folder: Path
    patterns: tuple[str, ...]

    def files(self) -> list[StoredFile]:
        found: dict[Path, StoredFile] = {}
        for pattern in self.patterns:
            for path in self.folder.glob(pattern):
                try:
                    stat = path.stat()
                except OSError:  # gone meanwhile
                    continue
                if path.is_file():
                    found[path] = StoredFile(path, stat.st_size, stat.st_mtime)
        return list(found.values())


@dataclass(frozen=True)
class StoredFile:
    path: Path
    size: int
    mtime: float


@dataclass(frozen=True)
class Sweep:
    deleted: tuple[StoredFile, ...]
    kept_bytes: int
    kept_files: int

    @property
    def freed_bytes(self) -> int:
        return sum(f.size for f in self.deleted)


def to_delete(
    files: Iterable[StoredFile],
    now: float,
    max_age_s: float | None,
    max_bytes: int | None,
    writing: set[Path],
) -> list[StoredFile]:
    """Oldest first: every file older than ``max_age_s``, then more of the oldest until what is left
    fits ``max_bytes``. Files in ``writing`` always stay (and count toward the size)."""
    ordered = sorted(files, key=lambda f: (f.mtime, str(f.path)))
    doomed: list[StoredFile] = []
    kept: list[StoredFile] = []
    for f in ordered:
        if f.path not in writing and max_age_s is not None and now - f.mtime > max_age_s:
            doomed.append(f)
        else:
            kept.append(f)
    if max_bytes is not None:
        total = sum(f.size for f in kept)
        for f in list(kept):
            if total <= max_bytes:
                break
            if f.path in writing:
                continue
            kept.remove(f)
            doomed.append(f)
            total -= f.size
    return doomed


def sweep(
    roots: Iterable[Root],
    max_age_s: float | None,
    max_bytes: int | None,
    writing: set[Path],
    now: float | None = None,
) -> Sweep:
    """Delete what ``to_delete`` picks across all ``roots`` (one budget for all of them)."""
    files = [f for root in roots for f in root.files()]
    doomed = to_delete(files, time.time() if now is None else now, max_age_s, max_bytes, writing)
    deleted = []
    for f in doomed:
        try:
            f.path.unlink()
            deleted.append(f)
        except FileNotFoundError:
            continue
        except OSError as exc:
            logger.warning("retention: cannot delete %s: %s", f.path, exc.strerror or exc)
    gone = {f.path for f in deleted}
    left = [f for f in files if f.path not in gone]
    return Sweep(tuple(deleted), sum(f.size for f in left), len(left))
