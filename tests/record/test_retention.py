"""Retention: the oldest of a run's own files go first, past an age or over a size; a file being written
and anything that is not the run's stay."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from streamseg.config import parse_size
from streamseg.errors import ConfigError
from streamseg.record.retention import Root, StoredFile, sweep, to_delete

DAY = 86_400.0


def _file(name: str, size: int, age_days: float, now: float) -> StoredFile:
    return StoredFile(Path(name), size, now - age_days * DAY)


def test_old_files_go_then_the_oldest_until_the_rest_fits() -> None:
    now = 1_000 * DAY
    files = [_file(f"out_{i}.mp4", 100, age, now) for i, age in enumerate([9, 8, 3, 2, 1, 0.1])]
    assert [f.path.name for f in to_delete(files, now, 7 * DAY, None, set())] == ["out_0.mp4", "out_1.mp4"]
    assert [f.path.name for f in to_delete(files, now, None, 250, set())] == [
        f"out_{i}.mp4" for i in range(4)
    ]
    both = to_delete(files, now, 7 * DAY, 350, set())
    assert [f.path.name for f in both] == ["out_0.mp4", "out_1.mp4", "out_2.mp4"]


def test_a_file_being_written_is_never_deleted() -> None:
    now = 1_000 * DAY
    files = [
        _file("out_cam.mp4", 500, 30, now),
        _file("out_a.mp4", 100, 20, now),
        _file("out_b.mp4", 100, 1, now),
    ]
    doomed = to_delete(files, now, 7 * DAY, 100, {Path("out_cam.mp4")})
    assert [f.path.name for f in doomed] == ["out_a.mp4", "out_b.mp4"]  # still over: only the open one left


def test_sweep_deletes_only_the_runs_own_files(tmp_path: Path) -> None:
    now = time.time()
    for name, age in (("out_cam_000.mp4", 9), ("out_cam_001.mp4", 1), ("notes.mp4", 30), ("out.txt", 30)):
        path = tmp_path / name
        path.write_bytes(b"x" * 1000)
        os.utime(path, (now - age * DAY, now - age * DAY))
    snaps = tmp_path / "snaps" / "door"
    snaps.mkdir(parents=True)
    (snaps / "a-frame.jpg").write_bytes(b"j" * 10)
    os.utime(snaps / "a-frame.jpg", (now - 8 * DAY, now - 8 * DAY))
    roots = [Root(tmp_path, ("out*.mp4",)), Root(tmp_path / "snaps", ("*/*-frame.jpg",))]
    result = sweep(roots, 7 * DAY, None, set(), now)
    assert sorted(f.path.name for f in result.deleted) == ["a-frame.jpg", "out_cam_000.mp4"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.mp4", "out.txt", "out_cam_001.mp4", "snaps"]
    assert (result.kept_files, result.kept_bytes) == (1, 1000)


@pytest.mark.parametrize(("text", "size"), [("50GB", 50 * 10**9), ("2TiB", 2 * 2**40), ("1.5mb", 1_500_000)])
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["10KB", "lots", "5 parsecs", "-1GB"])
def test_bad_sizes_are_one_line(text: str) -> None:
    with pytest.raises(ConfigError, match="must be a size like 500MB"):
        parse_size(text)
