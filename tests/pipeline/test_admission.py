"""Issue 20, item 5: a run takes at most ``sources.max`` sources, and refuses one that inference could not
serve at ``sources.min_fps`` alongside the others (never letting running cameras sink to 0 fps)."""

from __future__ import annotations

import pytest

from streamseg.config import SourceRules
from streamseg.errors import SourceLimitError
from streamseg.pipeline.admission import InferenceCapacity, check_admission


def test_capacity_is_frames_per_second_of_inference_work() -> None:
    now = [100.0]
    capacity = InferenceCapacity(clock=lambda: now[0])
    assert capacity.frames_per_second() is None  # no evidence yet: nothing is judged on speed
    for _ in range(40):  # batches of 4 frames, each frame 25 ms of work, one batch every 0.1 s
        capacity.observe_batch(4)
        for _frame in range(4):
            capacity.observe_stage("infer", 0.020, "cam")
            capacity.observe_stage("postprocess", 0.005, "cam")
            capacity.observe_stage("end_to_end", 0.5, "cam")  # not work
        now[0] += 0.1
    assert capacity.frames_per_second() == pytest.approx(40.0)  # 1 / 25 ms
    now[0] += 60  # old evidence ages out
    assert capacity.frames_per_second() is None


def test_admission_refuses_past_the_cap_and_below_the_share() -> None:
    rules = SourceRules(max=4, min_fps=2.0)
    check_admission(rules, 3, None)
    with pytest.raises(SourceLimitError, match=r"4 sources are running, the limit \(sources.max = 4\)"):
        check_admission(rules, 4, None)
    check_admission(rules, 3, 8.0)  # 8 fps shared by 4: 2 each
    with pytest.raises(SourceLimitError, match=r"about 7.0 frames/s, 1.8 each for 4 sources"):
        check_admission(rules, 3, 7.0)
    check_admission(SourceRules(max=4, min_fps=0), 3, 0.1)  # min_fps 0: only the cap applies
