"""``--segment``: a recording split into consecutive, independently playable files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streamseg.render import VideoWriter
from streamseg.render.segments import SegmentedWriter
from tests.media import read_video


def test_rotates_by_presentation_time(tmp_path: Path) -> None:
    writer = SegmentedWriter(tmp_path / "out_cam0.mp4", 2.0, lambda p: VideoWriter(p, fps_hint=10))
    image = np.full((64, 96, 3), 128, np.uint8)
    for i in range(50):  # 5 s at 10 fps
        writer.write(image, 100.0 + i / 10)
    writer.close()
    names = [p.name for p in writer.paths]
    assert names == ["out_cam0_000.mp4", "out_cam0_001.mp4", "out_cam0_002.mp4"]
    counts = []
    for path in writer.paths:
        times, codec, *_ = read_video(path)
        assert codec == "h264" and times[0] == 0.0
        counts.append(len(times))
    assert counts == [20, 20, 10]
