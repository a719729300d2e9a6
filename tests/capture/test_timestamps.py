"""``PtsTracker`` on hand-made timestamp sequences: gaps, reordering, and the AVI pattern."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from fractions import Fraction

import pytest

from streamseg.capture.timestamps import PtsTracker


def run(
    pairs: Sequence[tuple[int | None, int | None]], *, prefer_dts: bool = False, start: int | None = 0
) -> list[int]:
    """Feed (pts, dts) pairs with a 1/100 s time base; return the chosen times in ticks."""
    tracker = PtsTracker(Fraction(1, 100), start, default_duration_ticks=4, prefer_dts=prefer_dts)
    return [round(tracker.next_seconds(p, d, None) * 100) for p, d in pairs]


def test_clean_pts_pass_through() -> None:
    assert run([(0, None), (4, None), (8, None), (12, None)]) == [0, 4, 8, 12]


def test_missing_timestamps_continue_from_the_previous_frame() -> None:
    assert run([(0, None), (4, None), (None, None), (None, None), (16, None)]) == [0, 4, 8, 12, 16]


def test_first_frame_without_timestamp_starts_at_zero() -> None:
    assert run([(None, None), (None, None)], start=None) == [0, 4]


def test_times_are_relative_to_stream_start() -> None:
    tracker = PtsTracker(Fraction(1, 100), 500, default_duration_ticks=4)
    assert tracker.next_seconds(500, None, None) == pytest.approx(0.0)
    assert tracker.next_seconds(504, None, None) == pytest.approx(0.04)


def test_decode_order_pts_switch_to_dts_like_ffmpeg() -> None:
    """pts that go backwards while dts do not: dts wins from then on, and time never goes back."""
    pairs = [(2, 2), (6, 4), (8, 6), (4, 8), (12, 10), (14, 12), (10, 14)]
    out = run(pairs)
    assert all(b > a for a, b in itertools.pairwise(out))
    assert out[-3:] == [12, 13, 14] or out[-2:] == [12, 14]


def test_avi_mode_trusts_dts_from_the_first_frame() -> None:
    pairs = [(2, 2), (6, 4), (8, 6), (4, 8), (12, 10), (10, None)]
    assert run(pairs, prefer_dts=True) == [2, 4, 6, 8, 10, 12]


def test_equal_timestamps_are_nudged_forward_one_tick() -> None:
    assert run([(0, None), (4, None), (4, None), (8, None)]) == [0, 4, 5, 8]
