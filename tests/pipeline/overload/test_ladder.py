"""The degradation ladder's rungs and the governor that walks them (a fake clock; no pipeline)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator

import pytest

from streamseg.pipeline.overload import governor as gov
from streamseg.pipeline.overload.governor import LatencyGovernor
from streamseg.pipeline.overload.ladder import Rung, build_ladder, nearest_tier, smaller_sizes
from tests.telemetry.fakes import FakeClock

CAMS = ["a", "b", "c", "d"]


def test_smaller_sizes_step_down_to_the_floor() -> None:
    assert smaller_sizes(640, 256) == [512, 384, 288, 256]
    assert smaller_sizes(320, 256) == [256]
    assert smaller_sizes(256, 256) == [] and smaller_sizes(640, 1024) == []
    assert smaller_sizes(640, 300) == [512, 384, 320]  # a floor between strides rounds up
    assert all(s % 64 == 0 for s in smaller_sizes(1280, 256, stride=64))


def test_rungs_stride_low_priority_first_then_shrink_then_stride_more() -> None:
    cameras = {"normal": 2, "low": 1, "high": 1}
    rungs = build_ladder(cameras, 640, min_imgsz=256, max_stride=3, resizable=True, shed_decoding=False)
    assert build_ladder(cameras, 640, min_imgsz=256, max_stride=3, resizable=True)[: len(rungs)] == rungs
    steps = [(tuple(r.strides.values()), r.imgsz) for r in rungs]  # strides of low, normal, high
    assert steps == [
        ((1, 1, 1), 640),
        ((2, 1, 1), 640),  # low priority is strided first
        ((2, 2, 1), 640),
        ((2, 2, 2), 640),
        ((2, 2, 2), 512),  # then the input shrinks, one size per rung
        ((2, 2, 2), 384),
        ((2, 2, 2), 288),
        ((2, 2, 2), 256),  # never below min_imgsz
        ((3, 2, 2), 256),  # then every 3rd frame, low priority first again
        ((3, 3, 2), 256),
        ((3, 3, 3), 256),
    ]
    assert rungs[2].cost == pytest.approx((1 / 2 + 2 / 2 + 1) / 4)  # two normal cameras of four
    costs = [r.cost for r in rungs]
    assert costs[0] == 1.0 and all(b < a for a, b in itertools.pairwise(costs))
    assert rungs[1].label == "low: every 2nd frame, normal: every frame, high: every frame, input 640"
    assert rungs[-1].label == "every 3rd frame, input 256"


def test_a_fixed_input_model_only_strides() -> None:
    rungs = build_ladder(
        {"normal": 4}, 640, min_imgsz=256, max_stride=4, resizable=False, shed_decoding=False
    )
    assert [r.imgsz for r in rungs] == [640] * 4
    assert [r.strides["normal"] for r in rungs] == [1, 2, 3, 4]
    lone = build_ladder({"normal": 1}, 640, min_imgsz=640, max_stride=1, resizable=True, shed_decoding=False)
    assert len(lone) == 1


def test_then_decoding_is_shed_lowest_priority_first() -> None:
    rungs = build_ladder({"normal": 2, "low": 1, "high": 1}, 640, min_imgsz=256, max_stride=3, resizable=True)
    tail = [(tuple(r.strides.values()), tuple(r.skips.values()), r.imgsz) for r in rungs[10:]]
    assert tail == [
        ((3, 3, 3), ("DEFAULT", "DEFAULT", "DEFAULT"), 256),  # the last rung that decodes every frame
        ((3, 3, 3), ("NONREF", "DEFAULT", "DEFAULT"), 256),  # low priority: no non-reference frames
        ((3, 3, 3), ("NONREF", "NONREF", "DEFAULT"), 256),
        ((3, 3, 3), ("NONREF", "NONREF", "NONREF"), 256),
        ((1, 3, 3), ("NONKEY", "NONREF", "NONREF"), 256),  # keyframes only, each of them used
        ((1, 1, 3), ("NONKEY", "NONKEY", "NONREF"), 256),
        ((1, 1, 1), ("NONKEY", "NONKEY", "NONKEY"), 256),
    ]
    assert not any(r.sheds_decoding for r in rungs[:11]) and all(r.sheds_decoding for r in rungs[11:])
    costs = [r.cost for r in rungs]
    assert all(b < a for a, b in itertools.pairwise(costs))  # the guesses, until measured
    assert rungs[11].label == (
        "low: every 3rd frame (non-reference frames not decoded), normal: every 3rd frame, "
        "high: every 3rd frame, input 256"
    )
    assert rungs[13].label == "every 3rd frame (non-reference frames not decoded), input 256"
    assert rungs[-1].label == "keyframes only, input 256"
    # a model with one input size and no striding still sheds decoding
    lone = build_ladder({"normal": 1}, 640, min_imgsz=640, max_stride=1, resizable=True)
    assert [dict(r.skips) for r in lone] == [{"normal": m} for m in ("DEFAULT", "NONREF", "NONKEY")]


def test_a_camera_of_a_tier_the_ladder_lacks_goes_with_the_nearest() -> None:
    assert nearest_tier("low", ["normal", "high"]) == "normal"
    assert nearest_tier("high", ["low"]) == "low"
    assert nearest_tier("normal", ["low", "high"]) == "low"  # a tie: the lower one


# -- the governor -------------------------------------------------------------------------------------


def ladder(n: int = 4) -> list[Rung]:
    return build_ladder({"normal": n}, 320, min_imgsz=256, max_stride=4, resizable=True)


class Driver:
    """Feeds a governor frames of a given age and inference work, 10 per camera per second."""

    def __init__(self, budget_ms: float = 300.0) -> None:
        self.clock = FakeClock()
        self.gov = LatencyGovernor(budget_ms / 1e3, ladder(), dict.fromkeys(CAMS, "normal"), clock=self.clock)

    def run(self, seconds: float, age_s: float, busy: float = 0.5) -> list[int]:
        """Levels seen, one per frame; ``busy``: share of each 25 ms the inference thread works."""
        levels = []
        for _ in range(round(seconds * 40)):
            self.clock.advance(0.025)
            self.gov.observe_stage("infer", 0.025 * busy, "a")
            self.gov.observe_stage("end_to_end", age_s, CAMS[len(levels) % 4])
            levels.append(self.gov.level)
        return levels


@pytest.fixture
def warnings(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.WARNING, logger="streamseg.pipeline.overload.governor"):
        yield caplog


def test_over_budget_steps_down_one_rung_per_settle_time(warnings: pytest.LogCaptureFixture) -> None:
    d = Driver()
    levels = d.run(gov.SETTLE_S * 3 + 1, age_s=0.6)  # decisions come on ticks: up to TICK_S late
    assert levels[0] == 0 and max(levels) == 3
    changes = [i for i in range(1, len(levels)) if levels[i] != levels[i - 1]]
    assert all(b - a >= gov.SETTLE_S * 40 - 1 for a, b in itertools.pairwise(changes))
    lines = [r.getMessage() for r in warnings.records]
    assert len(lines) == 3 and lines[0] == (
        "latency budget 300 ms: p95 frame age 600 ms; stepping down to rung 1 of 6: "
        "every 2nd frame, input 320"
    )
    assert d.gov.section()["deepest"] == 3 and d.gov.section()["steps_down"] == 3


def test_within_budget_but_without_headroom_holds_the_rung() -> None:
    d = Driver()
    d.run(gov.SETTLE_S + 0.3, age_s=0.6)
    assert d.gov.level == 1
    assert set(d.run(60, age_s=0.25)) == {1}  # 250 ms: within 300 ms, not under 75 % of it


def test_headroom_climbs_back_after_the_hold_time(warnings: pytest.LogCaptureFixture) -> None:
    d = Driver()
    d.run(gov.SETTLE_S * 2 + 1, age_s=0.6)
    assert d.gov.level == 2
    levels = d.run(gov.UP_AFTER_S * 2 + 3, age_s=0.1, busy=0.2)
    assert levels[-1] == 0 and levels[round(gov.UP_AFTER_S * 40) - 10] == 2  # waited the hold time
    up = [r.getMessage() for r in warnings.records if "stepping up" in r.getMessage()]
    assert len(up) == 2 and "headroom (p95 100 ms, inference 20 % busy)" in up[0]


def test_no_climb_when_the_rung_above_would_overload_inference() -> None:
    d = Driver()
    d.run(gov.SETTLE_S + 0.3, age_s=0.6)
    assert d.gov.level == 1  # every 2nd frame: the rung above costs twice as much
    assert set(d.run(60, age_s=0.1, busy=0.5)) == {1}  # 50 % busy now would be 100 % up there
    assert d.gov.section()["inference_busy"] == pytest.approx(0.5)
    d.run(gov.UP_AFTER_S + gov.WINDOW_S + 1, age_s=0.1, busy=0.3)  # 60 % once the window has it: room
    assert d.gov.level == 0


def test_a_failed_climb_doubles_the_wait_before_the_next() -> None:
    d = Driver()
    d.run(gov.SETTLE_S + 0.3, age_s=0.6, busy=0.2)
    d.run(gov.UP_AFTER_S + 1.5, age_s=0.1, busy=0.2)
    assert d.gov.level == 0
    # rung 0 is still too much: down again as soon as SETTLE_S have passed since the climb
    d.run(gov.SETTLE_S - 0.5, age_s=0.6, busy=0.2)
    assert d.gov.level == 1 and d.gov._hold_s == 2 * gov.UP_AFTER_S
    levels = d.run(2 * gov.UP_AFTER_S + 1.5, age_s=0.1, busy=0.2)
    assert levels[round(gov.UP_AFTER_S * 40) + 20] == 1 and levels[-1] == 0


def test_the_last_rung_warns_once_and_stays(warnings: pytest.LogCaptureFixture) -> None:
    d = Driver()
    d.run(gov.SETTLE_S * 10, age_s=2.0)
    assert d.gov.level == len(d.gov.rungs) - 1
    bottom = [r for r in warnings.records if "at the last rung" in r.getMessage()]
    assert len(bottom) == 1


def test_frames_captured_before_a_change_do_not_judge_the_new_rung() -> None:
    d = Driver()
    d.run(gov.SETTLE_S + 0.3, age_s=0.6)
    assert d.gov.level == 1
    # 3 s old frames still arriving (captured before the change): no further step on their account
    d.run(gov.SETTLE_S * 2, age_s=gov.SETTLE_S * 3)
    assert d.gov.level == 1


def test_striding_is_fair_round_robin_and_counted() -> None:
    d = Driver()
    d.run(gov.SETTLE_S + 0.3, age_s=0.6)
    assert d.gov.level == 1  # every 2nd frame
    admitted = {cam: [i for i in range(12) if d.gov.admits(cam, i)] for cam in CAMS}
    assert admitted == {"a": [0, 2, 4, 6, 8, 10], "b": [1, 3, 5, 7, 9, 11], "c": [0, 2, 4, 6, 8, 10],
                        "d": [1, 3, 5, 7, 9, 11]}  # fmt: skip
    assert d.gov.admits("a-file", 1)  # not a live source of the ladder: never strided
    assert d.gov.section()["skipped"] == dict.fromkeys(CAMS, 6)
    d.gov.add_source("late", "low")  # added while running: the next phase, the nearest tier (normal)
    assert [i for i in range(6) if d.gov.admits("late", i)] == [0, 2, 4]
    assert d.gov.section()["strides"]["late"] == 2
    assert d.gov.imgsz == 320
    d.run(gov.SETTLE_S + 0.3, age_s=0.6)
    assert d.gov.imgsz == 256  # rung 2: the smaller input


def test_a_draining_backlog_holds_the_next_step() -> None:
    """Ages over budget but falling fast (a deep queue from before the step empties): wait for it."""
    d = Driver()
    d.run(gov.SETTLE_S + 0.3, age_s=0.6)
    assert d.gov.level == 1
    start = d.clock.now
    for i in range(5 * 40):  # 5 s of a queue emptying at twice the rate it fills: ages 3 -> 0.5 s
        d.clock.advance(0.025)
        age = 3.0 - 0.5 * (d.clock.now - start)
        d.gov.observe_stage("end_to_end", age, CAMS[i % 4])
    assert d.gov.level == 1  # a flat 0.6 s would have stepped twice in those 5 s
    d.run(gov.SETTLE_S + 0.5, age_s=0.6)  # no longer falling: down again
    assert d.gov.level == 2


# -- decode shedding ----------------------------------------------------------------------------------


class DecodingDriver(Driver):
    """Also plays the cameras' decoders: 10 frames a second each (a keyframe every 10th, no B-frames),
    asking the ladder through each camera's gate as a stream's decoder does; a camera in ``silent``
    delivers nothing (its server is gone)."""

    def __init__(self, budget_ms: float = 300.0) -> None:
        super().__init__(budget_ms)
        self.gates = {cam: self.gov.gate(cam) for cam in CAMS}
        self.stream_frame = dict.fromkeys(CAMS, 0)  # frames each camera has sent
        self.index = dict.fromkeys(CAMS, 0)  # frames each camera's decoder put out (our numbering)
        self.silent: set[str] = set()

    def run(self, seconds: float, age_s: float, busy: float = 0.5) -> list[int]:
        levels = []
        for tick in range(round(seconds * 40)):
            if tick % 4 == 0:
                for cam, gate in self.gates.items():
                    assert gate is not None
                    if cam in self.silent:
                        continue
                    n = self.stream_frame[cam]
                    self.stream_frame[cam] += 1
                    if gate.skip_frame == "NONKEY" and n % 10:
                        continue  # left undecoded
                    gate.admits(self.index[cam])
                    self.index[cam] += 1
            levels += super().run(0.025, age_s, busy)
        return levels


def test_decode_rungs_tell_each_camera_s_decoder_what_to_leave_out() -> None:
    d = DecodingDriver()
    assert [r.sheds_decoding for r in d.gov.rungs] == [False] * 5 + [True] * 2
    assert d.gov.skip_frame("a") == "DEFAULT" and d.gov.gate("a-file") is None  # files: never
    d.run(gov.SETTLE_S * 5 + 1.5, age_s=0.6)
    assert d.gov.level == 5 and d.gov.rungs[5].label == (
        "every 4th frame (non-reference frames not decoded), input 256"
    )
    gate = d.gates["a"]
    assert gate is not None and gate.skip_frame == "NONREF" == d.gov.skip_frame("b")
    assert d.gov.section()["skip_frame"] == dict.fromkeys(CAMS, "NONREF")
    d.run(gov.SETTLE_S + 0.5, age_s=0.6)
    assert d.gov.level == 6 and gate.skip_frame == "NONKEY"
    assert [i for i in range(5) if gate.admits(i)] == list(range(5))  # every keyframe is used
    plain = build_ladder({"normal": 4}, 320, min_imgsz=256, max_stride=4, resizable=True, shed_decoding=False)
    assert LatencyGovernor(0.3, plain, dict.fromkeys(CAMS, "normal")).gate("a") is None  # as before


def test_climbing_out_of_keyframes_only_is_judged_on_the_rates_measured_above() -> None:
    """The ladder guesses "keyframes only" leaves 1 frame in 60 (15x less than every 4th frame); these
    cameras send one in 10, so the rung above costs 2.5x, as measured, and 40 % busy now is 100 % there."""
    d = DecodingDriver()
    d.run(gov.SETTLE_S * 6 + 2, age_s=0.6)
    assert d.gov.level == 6
    assert set(d.run(40, age_s=0.1, busy=0.4)) == {6}  # would be 100 % busy one rung up: stay
    assert d.gov._measured_ratio(d.clock.now) == pytest.approx(2.5, rel=0.15)  # whole keyframes in 8 s
    d.run(gov.UP_AFTER_S + gov.WINDOW_S + 1, age_s=0.1, busy=0.2)  # 50 % up there: room
    assert d.gov.level == 5  # the guess (15x) would never have let it climb at 20 % busy


def test_cameras_that_went_away_do_not_weigh_on_the_climb() -> None:
    d = DecodingDriver()
    d.run(gov.SETTLE_S * 6 + 2, age_s=0.6)
    assert d.gov.level == 6
    d.silent = {"b", "c", "d"}  # their server is gone: they cost nothing on any rung
    d.run(gov.UP_AFTER_S + gov.WINDOW_S + 2, age_s=0.1, busy=0.2)
    assert d.gov.level == 5  # 20 % x 2.5 for the one camera left; counting all four would be 200 %
