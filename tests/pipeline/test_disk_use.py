"""Disk used per source: its recordings, clips and snapshots, re-measured at most every few seconds."""

from __future__ import annotations

from pathlib import Path

from streamseg.config import Config, EventsConfig, OutputConfig
from streamseg.pipeline.disk import DiskUse


def _write(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    return path


def test_recordings_clips_and_snapshots_add_up_per_source(tmp_path: Path) -> None:
    clips, shots = tmp_path / "clips", tmp_path / "shots"
    cfg = Config(output=OutputConfig(clips=str(clips)), events=EventsConfig(snapshots=str(shots)))
    recordings = {
        "door": [_write(tmp_path / "out_door_000.mp4", 1000), _write(tmp_path / "out_door_001.mp4", 500)],
        "yard": [_write(tmp_path / "out_yard.mp4", 70)],
    }
    _write(clips / "door" / "a.mp4", 300)
    _write(shots / "door" / "b-frame.jpg", 20)
    _write(shots / "gate" / "c-frame.jpg", 5)  # a source with snapshots only, not recorded
    recordings["gate"] = []
    _write(shots / "gone" / "d-frame.jpg", 5)  # a source that left: not reported
    now = [0.0]
    use = DiskUse(cfg, lambda: recordings, every_s=10, clock=lambda: now[0])
    assert use.bytes_by_source() == {"door": 1820, "yard": 70, "gate": 5}
    del recordings["yard"]  # it left: gone from the figures at once
    assert use.bytes_by_source() == {"door": 1820, "gate": 5}
    recordings["door"][0].unlink()  # retention deleted the oldest segment
    now[0] = 5.0
    assert use.bytes_by_source()["door"] == 1820  # not re-measured yet
    now[0] = 10.0
    assert use.bytes_by_source()["door"] == 820


def test_missing_folders_count_nothing(tmp_path: Path) -> None:
    cfg = Config(output=OutputConfig(clips=str(tmp_path / "never-made")))
    assert DiskUse(cfg, dict).bytes_by_source() == {}
