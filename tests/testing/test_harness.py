"""The shared harness itself: generated clips read back with their timestamps, and a missing asset
that says where it was looked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamseg.testing.assets import AssetMissing, asset
from streamseg.testing.media import read_video, write_video


def test_a_generated_clip_reads_back_with_its_timestamps(tmp_path: Path) -> None:
    written = write_video(tmp_path / "c.mp4", n_frames=6, size_wh=(96, 64), fps=12)
    times, codec, pix_fmt, width, height = read_video(tmp_path / "c.mp4")
    assert (codec, pix_fmt, width, height) == ("h264", "yuv420p", 96, 64)
    assert times == pytest.approx(written, abs=1e-3) and len(times) == 6


def test_a_missing_asset_says_where(tmp_path: Path) -> None:
    with pytest.raises(AssetMissing, match="beside the checkout"):
        asset(tmp_path / "nope.mp4")
