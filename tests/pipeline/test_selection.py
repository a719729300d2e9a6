"""Which frames the network sees: picked by timestamp at the detect rate (VFR, gaps, time going back),
never more than asked; motion lets frames through, stillness holds them unless a track is live."""

from __future__ import annotations

import numpy as np
import pytest

from streamseg.config.detect import DetectConfig, MotionConfig
from streamseg.errors import ConfigError
from streamseg.pipeline.selection import FrameSelection
from streamseg.types import Frame


def _frame(pts: float, motion: float | None = None, source: str = "cam") -> Frame:
    frame = Frame(source, 0, pts, 0.0, np.zeros((4, 4, 3), np.uint8))
    frame.motion = motion
    return frame


def _kinds(selection: FrameSelection, times: list[float], **kw: float | None) -> list[str]:
    return [selection.decide(_frame(t, **kw)) for t in times]  # type: ignore[arg-type]


def test_a_source_without_a_rate_or_motion_infers_every_frame() -> None:
    selection = FrameSelection()
    selection.add_source("cam", DetectConfig())
    assert not selection.active
    assert _kinds(selection, [0.0, 0.01, 0.02]) == ["inferred"] * 3


@pytest.mark.parametrize("fps", [5.0, 7.0, 30.0])
def test_the_rate_is_kept_on_a_fixed_phase_and_never_exceeded(fps: float) -> None:
    selection = FrameSelection()
    selection.add_source("cam", DetectConfig(fps=fps), source_fps=30.0)
    times = [i / 30 for i in range(300)]  # 10 s at 30 fps
    kinds = _kinds(selection, times)
    picked = [t for t, k in zip(times, kinds, strict=True) if k == "inferred"]
    assert abs(len(picked) - 10 * fps) <= 1
    for start in np.arange(0.0, 9.0, 0.25):  # never more than asked in any one-second window
        assert sum(start <= t < start + 1.0 for t in picked) <= fps + 1
    assert set(kinds) <= {"inferred", "carried"}


def test_variable_frame_rate_and_gaps_are_read_by_timestamp() -> None:
    selection = FrameSelection()
    selection.add_source("cam", DetectConfig(fps=2.0))
    times = [0.0, 0.05, 0.3, 0.49, 0.5, 0.52, 0.9, 1.0, 4.0, 4.1, 4.5]  # bursts, then a 3 s gap
    kinds = _kinds(selection, times)
    assert [t for t, k in zip(times, kinds, strict=True) if k == "inferred"] == [0.0, 0.5, 1.0, 4.0, 4.5]


def test_time_going_back_starts_a_new_phase() -> None:
    selection = FrameSelection()
    selection.add_source("cam", DetectConfig(fps=2.0))
    assert _kinds(selection, [10.0, 10.2, 0.0, 0.1, 0.5]) == [
        "inferred",
        "carried",
        "inferred",  # a loop or a reconnect
        "carried",
        "inferred",
    ]


def test_no_motion_and_no_live_track_is_still_and_motion_lets_the_rate_decide() -> None:
    live = {"cam": False}
    selection = FrameSelection(lambda s: live[s])
    motion = MotionConfig(enabled=True, min_area=0.01)
    selection.add_source("cam", DetectConfig(fps=5.0, motion=motion))
    assert selection.decide(_frame(0.0, motion=1.0)) == "inferred"  # the first frame: all motion
    assert selection.decide(_frame(0.2, motion=0.001)) == "still"
    assert selection.decide(_frame(0.4, motion=0.05)) == "inferred"
    assert selection.decide(_frame(0.45, motion=0.05)) == "carried"  # moving, between detections
    live["cam"] = True  # someone is followed: the rate decides even without motion
    assert selection.decide(_frame(0.6, motion=0.0)) == "inferred"
    assert selection.decide(_frame(0.65, motion=None)) == "carried"  # unmeasured counts as moving


def test_decisions_and_motion_are_counted_per_source() -> None:
    counted: list[tuple[str, str]] = []
    selection = FrameSelection(count=lambda s, k: counted.append((s, k)))
    selection.add_source("cam", DetectConfig(motion=MotionConfig(enabled=True, min_area=0.01)))
    selection.decide(_frame(0.0, motion=0.5))
    selection.decide(_frame(0.1, motion=0.0))
    selection.decide(_frame(0.1, source="other"))
    assert counted == [("cam", "inferred"), ("cam", "moving"), ("cam", "still"), ("other", "inferred")]


def test_a_rate_above_the_sources_own_is_one_line() -> None:
    with pytest.raises(ConfigError, match="30") as caught:
        FrameSelection().add_source("cam", DetectConfig(fps=60.0), source_fps=30.0)
    assert "\n" not in str(caught.value)


def test_the_latency_ladder_lowers_the_rate_and_leaves_other_sources_alone() -> None:
    scale = {"cam": 0.5, "other": 0.5}
    selection = FrameSelection(rate_scale=lambda s: scale[s])
    selection.add_source("cam", DetectConfig(fps=10.0), source_fps=30.0)
    times = [i / 30 for i in range(90)]
    assert _kinds(selection, times).count("inferred") == 15  # 5 a second over 3 s
    scale["cam"] = 1.0
    assert _kinds(selection, [3 + t for t in times]).count("inferred") == 30
    assert set(_kinds(selection, times, source="other")) == {"inferred"}  # no rate set: every frame
