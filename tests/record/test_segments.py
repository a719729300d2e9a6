"""``--segment``: a recording split into consecutive, independently playable files, one encoder for all."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from streamseg.errors import OutputError
from streamseg.record import VideoWriter
from streamseg.testing.media import native_thread_ids, read_video
from tests.record.test_writer import picture


@pytest.mark.parametrize("low_latency", [False, True], ids=["lookahead", "zerolatency"])
def test_rotates_by_presentation_time(tmp_path: Path, low_latency: bool) -> None:
    """With lookahead the encoder holds frames back; each file must still get exactly its own frames."""
    writer = VideoWriter(tmp_path / "out_cam0.mp4", fps_hint=10, segment_seconds=2.0, low_latency=low_latency)
    for i in range(50):  # 5 s at 10 fps
        writer.write(picture(i, 64, 96), 100.0 + i / 10)
    writer.close()
    names = [p.name for p in writer.paths]
    assert names == ["out_cam0_000.mp4", "out_cam0_001.mp4", "out_cam0_002.mp4"]
    counts = []
    for path in writer.paths:
        times, codec, *_ = read_video(path)  # a fresh decoder per file: each one plays on its own
        assert codec == "h264" and times[0] == 0.0
        assert times == sorted(times) and times[-1] == pytest.approx((len(times) - 1) / 10, abs=1e-3)
        counts.append(len(times))
    assert counts == [20, 20, 10]


def test_rotation_keeps_one_encoder(tmp_path: Path) -> None:
    """No x264 restart per file: the encoder's threads (kernel ids) live on and no new ones start."""
    before = native_thread_ids()
    writer = VideoWriter(tmp_path / "out.mp4", fps_hint=10, segment_seconds=0.5)
    writer.write(picture(0, 240, 320), 0.0)
    encoder_threads = native_thread_ids() - before
    assert encoder_threads  # x264 runs threads at this size; a new encoder would start new ones
    for i in range(1, 40):  # 8 files
        writer.write(picture(i, 240, 320), i / 10)
        gc.collect()  # a replaced encoder would be freed here, its threads gone
        now = native_thread_ids()
        assert encoder_threads <= now and not now - before - encoder_threads, f"at frame {i}"
    writer.close()
    assert len(writer.paths) == 8


def test_a_file_that_cannot_be_opened_fails_the_write_clearly(tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    folder.mkdir()
    writer = VideoWriter(folder / "out.mp4", fps_hint=10, segment_seconds=0.5)
    writer.write(picture(0, 64, 96), 0.0)
    (folder / "out_001.mp4").mkdir()  # the next file's name is taken by a folder
    with pytest.raises(OutputError, match=r"^cannot write recording .*out_001\.mp4: Is a directory$"):
        for i in range(1, 20):
            writer.write(picture(i, 64, 96), i / 10)
    with pytest.raises(OutputError, match=r"out_001\.mp4"):  # close says it again, and still finalizes
        writer.close()
    times, *_ = read_video(folder / "out_000.mp4")
    assert len(times) == 5  # the first file is whole
