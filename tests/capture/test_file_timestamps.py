"""Timestamps, counts and pixels from the shared real-world clips, checked against the containers."""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from streamseg.capture import PyAVFileSource

from .media import (
    AERIAL_AVI,
    ALL_CLIPS,
    DANCE,
    HIGHWAY,
    OFFICE_VFR,
    PEDESTRIANS,
    Decoded,
    clip,
    decode_all,
    strictly_increasing,
    write_irregular_video,
)


def packet_times(name: str) -> list[float]:
    """ffprobe-style: every video packet's pts, relative to the stream start, sorted into display order."""
    with av.open(str(clip(name))) as container:
        stream = container.streams.video[0]
        tb = stream.time_base or Fraction(1, 1)
        start = stream.start_time or 0
        return sorted(
            float((p.pts - start) * tb) for p in container.demux(stream) if p.size and p.pts is not None
        )


@pytest.mark.parametrize("name", ALL_CLIPS)
def test_every_clip_decodes_cleanly(decoded_clips: dict[str, Decoded], name: str) -> None:
    d = decoded_clips[name]
    assert d.error is None
    assert d.decode_errors == 0
    assert d.indices == list(range(len(d.pts)))
    assert d.shapes == {(720, 1280, 3)}
    assert d.all_contiguous
    assert d.resolution_wh == (1280, 720)
    assert strictly_increasing(d.pts)
    assert d.capture_times == sorted(d.capture_times)
    assert d.pts[0] < 0.05
    assert d.frame_count == len(d.pts), "frame_count estimate should match what decodes"


def test_ntsc_rate_clip_has_exact_1001_timestamps(decoded_clips: dict[str, Decoded]) -> None:
    d = decoded_clips[PEDESTRIANS]
    assert len(d.pts) == 314
    expected = np.arange(314) * 1001 / 30000
    np.testing.assert_allclose(d.pts, expected, atol=1e-6)
    assert d.nominal_fps == pytest.approx(30000 / 1001, rel=1e-3)


def test_vfr_clip_uses_stream_timestamps_not_a_rate(decoded_clips: dict[str, Decoded]) -> None:
    d = decoded_clips[OFFICE_VFR]
    assert len(d.pts) == 182
    np.testing.assert_allclose(d.pts, packet_times(OFFICE_VFR), atol=1e-6)
    assert d.pts[-1] == pytest.approx(6.13, abs=0.01)


@pytest.mark.parametrize("name", [DANCE, HIGHWAY])
def test_mp4_pts_match_packet_pts(decoded_clips: dict[str, Decoded], name: str) -> None:
    """The dance clip's stream starts at a non-zero time; its first frame must still be at 0."""
    np.testing.assert_allclose(decoded_clips[name].pts, packet_times(name), atol=1e-6)


def test_irregular_timestamps_survive_exactly(tmp_path: Path) -> None:
    """Gaps, a burst and a stall: the frames report the times they were written with, not a rate."""
    times = [0.0, 0.1, 0.15, 0.2, 0.9, 0.91, 0.92, 2.5, 2.6, 2.633]
    d = decode_all(write_irregular_video(tmp_path / "irregular.mp4", times))
    assert d.error is None
    np.testing.assert_allclose(d.pts, times, atol=1e-9)
    assert d.frame_count == len(times)


def test_avi_with_lying_header_and_reordered_pts(decoded_clips: dict[str, Decoded]) -> None:
    """Header says 682 frames at 50 fps; 341 decode at 25 fps, and raw pts jump back at every B-frame."""
    d = decoded_clips[AERIAL_AVI]
    assert len(d.pts) == 341
    assert d.error is None
    assert d.frame_count == 341
    assert d.nominal_fps == pytest.approx(25.0, rel=0.02)
    steps = np.diff(d.pts)
    np.testing.assert_allclose(steps, 0.04, atol=1e-6)  # a clean 25 fps timeline, nothing nudged
    assert d.pts[-1] == pytest.approx(13.6, abs=0.05)


def test_avi_decoder_output_really_is_out_of_order() -> None:
    """Guards the test above: FFmpeg's raw frame pts for this AVI do go backwards."""
    with av.open(str(clip(AERIAL_AVI))) as container:
        stream = container.streams.video[0]
        raw = [f.pts for f in container.decode(stream) if f.pts is not None]
    assert sum(b < a for a, b in itertools.pairwise(raw)) > 50


def test_frame_count_known_at_open_before_decoding() -> None:
    with PyAVFileSource(str(clip(AERIAL_AVI))) as src:
        assert src.frame_count == 341
        assert src.resolution_wh == (1280, 720)
        assert src.is_live is False
        assert src.name == "aerial_pedestrians_gray_720p25"


def test_decoding_is_faster_than_real_time(decoded_clips: dict[str, Decoded]) -> None:
    """A generous floor (the 2-core dev box does 200-400 fps): 720p must never be the bottleneck."""
    assert decoded_clips[DANCE].decode_fps > 60
