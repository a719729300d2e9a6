"""The ladder's detect-rate rungs: sources with a detect rate see it lowered, lowest priority first,
before anything strides (a fake clock; no pipeline)."""

from __future__ import annotations

import itertools
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from streamseg.config import Config, LatencyConfig, ModelConfig, SourceConfig
from streamseg.config.detect import DetectConfig, SourceDetect
from streamseg.pipeline.overload import governor as gov
from streamseg.pipeline.overload.governor import LatencyGovernor
from streamseg.pipeline.overload.ladder import build_ladder
from streamseg.pipeline.overload.wiring import detect_rated, open_governor
from streamseg.telemetry import Telemetry
from tests.pipeline.overload.test_ladder import CAMS, Driver
from tests.telemetry.fakes import FakeMemory

MIXED = {"normal": 2, "low": 1, "high": 1}


def plain(cameras: dict[str, int]) -> list[Any]:
    return build_ladder(cameras, 640, min_imgsz=256, max_stride=3, resizable=True)


def test_detect_rates_are_halved_twice_lowest_tier_first_then_the_ladder_goes_on_as_before() -> None:
    rungs = build_ladder(
        MIXED, 640, min_imgsz=256, max_stride=3, resizable=True, detecting={"low": 1, "high": 1}
    )
    head = [tuple(r.detect.values()) for r in rungs[:5]]  # factors of low and high: normal has no rate
    assert head == [(1.0, 1.0), (0.5, 1.0), (0.5, 0.5), (0.25, 0.5), (0.25, 0.25)]
    assert all(set(r.strides.values()) == {1} and r.imgsz == 640 for r in rungs[:5])  # nothing strided yet
    assert [r.label for r in rungs[1:4]] == [
        "detect rate x0.5 for low; every frame, input 640",
        "detect rate x0.5 for low and high; every frame, input 640",
        "detect rate x0.25 for low, x0.5 for high; every frame, input 640",
    ]
    # then striding, shrinking and shedding as without detect rates, the lowered rates kept throughout
    before = plain(MIXED)
    assert [(r.strides, r.imgsz, r.skips) for r in rungs[5:]] == [
        (r.strides, r.imgsz, r.skips) for r in before[1:]
    ]
    assert all(r.detect == {"low": 0.25, "high": 0.25} for r in rungs[4:])
    assert rungs[-1].label == "detect rate x0.25 for low and high; keyframes only, input 256"


def test_each_rung_costs_what_the_lowered_rates_leave() -> None:
    rungs = build_ladder(
        MIXED, 640, min_imgsz=256, max_stride=3, resizable=True, detecting={"low": 1, "high": 1}
    )
    costs = [r.cost for r in rungs]
    assert costs[:5] == pytest.approx(
        [1.0, (0.5 + 3) / 4, (0.5 + 2 + 0.5) / 4, (0.25 + 2 + 0.5) / 4, 2.5 / 4]
    )
    # striding the low camera, already at a quarter of its detect rate, is not counted on to save more
    assert costs[5] == pytest.approx(costs[4])
    assert costs[6] == pytest.approx((0.25 + 2 / 2 + 0.25) / 4)  # the two normal cameras: every 2nd frame
    assert all(b <= a for a, b in itertools.pairwise(costs))


def test_a_uniform_ladder_names_no_tier_and_tiers_without_rates_get_no_rung() -> None:
    rungs = build_ladder(
        {"normal": 4}, 640, min_imgsz=640, max_stride=2, resizable=True, detecting={"normal": 2}
    )
    assert [r.label for r in rungs[:4]] == [
        "every frame, input 640",
        "detect rate x0.5; every frame, input 640",
        "detect rate x0.25; every frame, input 640",
        "detect rate x0.25; every 2nd frame, input 640",
    ]
    assert rungs[1].cost == pytest.approx((2 + 2 * 0.5) / 4)  # two of the four cameras have a rate
    # a tier without detect-rate sources is not lowered (the rung would change nothing)
    low_only = build_ladder(MIXED, 640, min_imgsz=640, max_stride=2, resizable=True, detecting={"low": 1})
    assert [r.label.split(";")[0] for r in low_only[1:3]] == [
        "detect rate x0.5 for low",
        "detect rate x0.25 for low",
    ]
    assert low_only[3].strides == {"low": 2, "normal": 1, "high": 1}


@pytest.mark.parametrize("detecting", [None, {}, {"normal": 0}, {"medium": 3}])
def test_without_detect_rates_the_ladder_is_as_before(detecting: dict[str, int] | None) -> None:
    rungs = build_ladder(MIXED, 640, min_imgsz=256, max_stride=3, resizable=True, detecting=detecting)
    assert rungs == plain(MIXED)
    assert all(r.detect == {} and "detect" not in r.label for r in rungs)


def test_detect_scale_reads_the_current_rung_for_the_source_s_tier() -> None:
    rungs = build_ladder(
        MIXED, 640, min_imgsz=640, max_stride=2, resizable=True, detecting={"low": 1, "high": 1}
    )
    priorities = {"yard": "low", "hall": "normal", "gate": "high"}
    governor = LatencyGovernor(0.3, rungs, priorities, detecting={"yard", "gate"})
    scales: dict[str, list[float]] = {"yard": [], "gate": [], "hall": [], "clip": []}
    for level in range(6):
        governor._set(level, 0.0)
        for name, seen in scales.items():
            seen.append(governor.detect_scale(name))
    assert scales == {
        "yard": [1.0, 0.5, 0.5, 0.25, 0.25, 0.25],
        "gate": [1.0, 1.0, 0.5, 0.5, 0.25, 0.25],
        "hall": [1.0] * 6,  # its tier has no detect-rate source: never lowered
        "clip": [1.0] * 6,  # not on the ladder (a file)
    }
    assert governor.section()["detect_scale"] == {"yard": 0.25, "gate": 0.25}
    governor.add_source("late", "low", detect_rate=True)  # added while running: its tier's factor
    assert governor.detect_scale("late") == 0.25 and governor.section()["detect_scale"]["late"] == 0.25
    governor.remove_source("yard")
    assert governor.detect_scale("yard") == 1.0 and "yard" not in governor.section()["detect_scale"]


def test_under_overload_detect_rates_go_down_before_any_frame_is_strided(
    caplog: pytest.LogCaptureFixture,
) -> None:
    d = Driver()
    rungs = build_ladder(
        {"normal": 4}, 320, min_imgsz=256, max_stride=4, resizable=True, detecting={"normal": 2}
    )
    d.gov = LatencyGovernor(0.3, rungs, dict.fromkeys(CAMS, "normal"), clock=d.clock, detecting={"a", "b"})
    with caplog.at_level(logging.WARNING, logger="streamseg.pipeline.overload.governor"):
        d.run(gov.SETTLE_S * 2 + 1, age_s=0.6)
        assert d.gov.level == 2 and d.gov.detect_scale("a") == 0.25 == d.gov.detect_scale("b")
        assert all(d.gov.admits(cam, i) for cam in CAMS for i in range(4))  # every frame still handed on
        assert d.gov.imgsz == 320
        d.run(gov.SETTLE_S + 0.3, age_s=0.6)
    assert d.gov.level == 3 and [i for i in range(4) if d.gov.admits("c", i)] == [0, 2]  # now striding
    assert d.gov.detect_scale("a") == 0.25  # the lowered rate is kept
    down = [r.getMessage() for r in caplog.records]
    assert down[0].endswith("stepping down to rung 1 of 8: detect rate x0.5; every frame, input 320")
    assert down[2].endswith("rung 3 of 8: detect rate x0.25; every 2nd frame, input 320")
    d.run(gov.UP_AFTER_S * 4, age_s=0.1, busy=0.1)  # room again: back up, the rates as set
    assert d.gov.level == 0 and d.gov.detect_scale("a") == 1.0


def config(*sources: SourceConfig, fps: float | None = None) -> Config:
    return Config(
        sources=sources,
        model=ModelConfig(imgsz=320),
        latency=LatencyConfig(budget_ms=300),
        detect=DetectConfig(fps=fps),
    )


def test_open_governor_finds_the_sources_with_a_detect_rate_in_the_config() -> None:
    cfg = config(
        SourceConfig(uri="rtsp://x/a", name="yard", priority="low", detect=SourceDetect(fps=2.0)),
        SourceConfig(uri="rtsp://x/b", name="hall"),
        SourceConfig(uri="rtsp://x/c", name="gate", priority="high", detect=SourceDetect(fps=5.0)),
    )
    live = [SimpleNamespace(name=n, is_live=True) for n in ("yard", "hall", "gate")]
    priorities = {"yard": "low", "hall": "normal", "gate": "high"}
    telemetry = Telemetry(system=FakeMemory(), gpu_index=None)
    governor = open_governor(cfg, live, priorities, SimpleNamespace(), telemetry)
    assert governor is not None
    assert [dict(r.detect) for r in governor.rungs[:3]] == [
        {"low": 1.0, "high": 1.0},
        {"low": 0.5, "high": 1.0},
        {"low": 0.5, "high": 0.5},
    ]
    assert governor.rungs[5].strides == {"low": 2, "normal": 1, "high": 1}  # then the first stride
    assert telemetry.snapshot()["degradation"]["detect_scale"] == {"yard": 1.0, "gate": 1.0}
    # the run's detect rate counts for every source that does not set its own; none: as before
    assert detect_rated(config(SourceConfig(uri="rtsp://x/b", name="hall"), fps=1.0), ["hall", "cli"]) == {
        "hall",
        "cli",
    }
    fresh = Telemetry(system=FakeMemory(), gpu_index=None)
    without = open_governor(config(), live, priorities, SimpleNamespace(), fresh)
    assert without is not None and all(r.detect == {} for r in without.rungs)
