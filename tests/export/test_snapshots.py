"""Event snapshots: issue 30, items 4 and 9. A source named ``..`` or ``.`` once wrote into the parent of
``--snapshots`` (where retention never swept), and ``кухня`` and ``двор`` shared ``snaps/_``: each name
gets its own folder inside, by its slug, and a link planted in the folder is not followed out of it."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from streamseg.export.snapshots import SnapshotWriter

PICTURE = np.full((48, 64, 3), 128, np.uint8)


def snap(writer: SnapshotWriter, source: str, pts: float = 1.0) -> dict[str, object]:
    event: dict[str, object] = {"source": source, "track_id": 1, "pts": pts, "type": "appeared"}
    writer.take(event, lambda: PICTURE)
    return event


def test_every_name_writes_inside_the_folder_and_apart(tmp_path: Path) -> None:
    folder = tmp_path / "out" / "snaps"
    writer = SnapshotWriter(folder)
    events = [snap(writer, name, pts) for pts, name in enumerate(["..", ".", "кухня", "двор", "../x"])]
    writer.close()
    written = sorted(p.relative_to(folder).parent.as_posix() for p in folder.rglob("*.jpg"))
    assert written == sorted(["__", "_", "кухня", "двор", "___x"])
    assert not list((tmp_path / "out").glob("*.jpg")) and not list(tmp_path.glob("*.jpg"))
    assert all(Path(str(e["snapshot"])).resolve().is_relative_to(folder.resolve()) for e in events)


def test_a_link_out_of_the_folder_is_not_followed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder, outside = tmp_path / "snaps", tmp_path / "elsewhere"
    folder.mkdir()
    outside.mkdir()
    os.symlink(outside, folder / "door")
    writer = SnapshotWriter(folder)
    with caplog.at_level(logging.WARNING, logger="streamseg.export.snapshots"):
        event = snap(writer, "door")
    writer.close()
    assert "snapshot" not in event and writer.dropped == 1 and not list(outside.iterdir())
    assert "leads out of" in caplog.text
