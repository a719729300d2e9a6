"""``--latency-budget`` wiring: when there is a governor, what it may resize, the input size applied
between batches, the new config keys, and how the summary, status and /metrics show it all."""

from __future__ import annotations

import dataclasses
import logging
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from streamseg.cli import build_parser, config_from_args
from streamseg.config import Config, LatencyConfig, ModelConfig, TelemetryConfig, from_dict, load_yaml
from streamseg.errors import ConfigError
from streamseg.inference.runtimes import InferenceBackend, ModelInfo
from streamseg.inference.runtimes.onnxruntime import OnnxRuntimeBackend
from streamseg.inference.yolo.engine import SegmentationEngine
from streamseg.inference.yolo.postprocess import Thresholds
from streamseg.pipeline.lifecycle import EndOfStream, Lifecycle
from streamseg.pipeline.overload.governor import LatencyGovernor
from streamseg.pipeline.overload.ladder import build_ladder
from streamseg.pipeline.overload.wiring import GovernedSegmenter, open_governor, resizable_engine
from streamseg.pipeline.workers import capture_loop
from streamseg.telemetry import Telemetry, summary_table
from streamseg.types import Frame
from streamseg.web.metrics import PipelineMetrics
from streamseg.web.preview import PreviewSink
from streamseg.web.status import RunInfo, StatusBuilder
from tests.cli.test_main import OFFLINE_ENV
from tests.conftest import REPO, VIDEOS, read_frames
from tests.pipeline.test_live_policy import IMAGE, Counter
from tests.telemetry.fakes import FakeMemory


@pytest.fixture(scope="module")
def engine(random_seg_onnx: Path) -> SegmentationEngine:
    return SegmentationEngine(OnnxRuntimeBackend(random_seg_onnx), 320, Thresholds(0.25, 0.7, 100))


def sources(**live: bool) -> list[Any]:
    return [SimpleNamespace(name=name, is_live=is_live) for name, is_live in live.items()]


def budget(ms: float | None) -> Config:
    return Config(model=ModelConfig(imgsz=320), latency=LatencyConfig(budget_ms=ms))


def test_no_budget_no_governor(engine: SegmentationEngine) -> None:
    telemetry = Telemetry(system=FakeMemory(), gpu_index=None)
    assert open_governor(budget(None), sources(cam=True), {}, engine, telemetry) is None
    assert "degradation" not in telemetry.snapshot()


def test_files_are_never_degraded(engine: SegmentationEngine, caplog: pytest.LogCaptureFixture) -> None:
    telemetry = Telemetry(system=FakeMemory(), gpu_index=None)
    with caplog.at_level(logging.INFO, logger="streamseg.pipeline.overload.wiring"):
        assert open_governor(budget(300), sources(clip=False), {}, engine, telemetry) is None
    assert "applies to live sources" in caplog.text


def test_governor_covers_live_sources_with_their_priorities(engine: SegmentationEngine) -> None:
    telemetry = Telemetry(system=FakeMemory(), gpu_index=None)
    src = sources(front=True, clip=False, yard=True)
    governor = open_governor(budget(300), src, {"yard": "low"}, engine, telemetry)
    assert governor is not None
    assert governor.rungs[1].strides == {"low": 2, "normal": 1}  # the low-priority camera first
    assert [r.imgsz for r in governor.rungs] == [320, 320, 320, 256, 256, 256, 256, 256, 256, 256, 256, 256]
    assert [r.sheds_decoding for r in governor.rungs].index(True) == 8  # after striding: decoding
    section = telemetry.snapshot()["degradation"]
    assert section["level"] == 0 and section["levels"] == 11 and section["budget_ms"] == 300
    assert section["skip_frame"] == {"front": "DEFAULT", "yard": "DEFAULT"}
    assert governor.admits("clip", 1)  # the file is not on the ladder


class StaticInput(InferenceBackend):
    """A model with one input size, as a TensorRT plan or a static ONNX has."""

    name = "static"

    def __init__(self, real: InferenceBackend) -> None:
        self._info = dataclasses.replace(real.info, fixed_input_hw=(384, 640))

    @property
    def info(self) -> ModelInfo:
        return self._info

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise AssertionError("not run here")


def test_only_a_dynamic_yolo_input_can_shrink(engine: SegmentationEngine) -> None:
    assert resizable_engine(engine) is engine
    assert resizable_engine(SimpleNamespace(inner=engine)) is engine  # type: ignore[arg-type]  # SAM wraps it
    assert resizable_engine(SimpleNamespace()) is None  # type: ignore[arg-type]  # Mask R-CNN sizes its own
    static = SegmentationEngine(StaticInput(engine.backend), 640, Thresholds(0.25, 0.7, 100))
    assert resizable_engine(static) is None


def test_the_input_size_changes_between_batches_and_boxes_stay_in_frame_pixels(
    engine: SegmentationEngine,
) -> None:
    image = read_frames(VIDEOS / "street_pedestrians_720p30.mp4", [0])[0]
    frame = Frame("cam", 0, 0.0, 0.0, image)
    rungs = build_ladder({"normal": 1}, 320, min_imgsz=256, max_stride=2, resizable=True)
    governor = LatencyGovernor(0.3, rungs, {"cam": "normal"})
    segmenter = GovernedSegmenter(engine, governor)
    full = segmenter.run([frame])[0]
    assert engine.letterbox_for(frame.frame_hw).input_hw == (192, 320)
    governor._set(2, 0.0)  # the rung with input 256
    small = segmenter.run([frame])[0]
    assert engine.imgsz == 256 and engine.letterbox_for(frame.frame_hw).input_hw == (160, 256)
    assert small.frame.image.shape == full.frame.image.shape  # the picture itself is untouched
    for result in (full, small):
        assert (result.xyxy[:, [0, 2]] <= 1280).all() and (result.xyxy[:, [1, 3]] <= 720).all()
    governor._set(0, 0.0)
    again = segmenter.run([frame])[0]
    np.testing.assert_array_equal(again.xyxy, full.xyxy)  # back at 320: the same answer as before


class GatedBurst:
    """A live stream that asks its gate about each of ``n`` decoded frames, as PyAV's does."""

    name = "cam"
    is_live = True

    def __init__(self, n: int) -> None:
        self.left, self.index, self.gate = n, 0, None
        self.modes: list[str] = []

    def set_gate(self, gate: Any) -> None:
        self.gate = gate

    def read(self) -> Frame | None:
        while self.left:
            self.left -= 1
            self.modes.append(self.gate.skip_frame if self.gate is not None else "DEFAULT")
            index, self.index = self.index, self.index + 1
            if self.gate is None or self.gate.admits(index):
                return Frame("cam", index, index / 30, time.monotonic(), IMAGE)
        return None

    def close(self) -> None:
        pass


@pytest.mark.parametrize("shed", [True, False])
def test_a_capture_thread_hands_the_ladder_to_the_decoder_when_it_sheds_decoding(shed: bool) -> None:
    rungs = build_ladder({"normal": 1}, 320, min_imgsz=320, max_stride=3, resizable=True, shed_decoding=shed)
    governor = LatencyGovernor(0.3, rungs, {"cam": "normal"})
    governor._set(len(rungs) - 2 if shed else 2, 0.0)  # every 3rd frame (without non-reference frames)
    source, meter, q = GatedBurst(9), Counter(), queue.Queue[Any]()
    capture_loop(source, q, threading.Event(), Lifecycle(0.05), meter, None, governor)
    frames = [q.get_nowait() for _ in range(q.qsize())]
    assert [f.index for f in frames if isinstance(f, Frame)] == [0, 3, 6]
    assert isinstance(frames[-1], EndOfStream)
    assert meter.counts[("cam", "captured")] == 9  # the refused frames were decoded all the same
    assert governor.section()["skipped"] == {"cam": 6}
    # shedding: the stream itself asks (and would pass over refused frames before converting them);
    # without: it is asked after each frame it hands out, and its decoder is never told to skip
    assert (source.gate is not None) is shed
    assert set(source.modes) == ({"NONREF"} if shed else {"DEFAULT"})


# -- configuration ------------------------------------------------------------------------------------


def test_default_yaml_documents_the_new_keys() -> None:
    cfg = load_yaml(REPO / "configs" / "default.yaml")
    assert cfg.latency == LatencyConfig() and cfg.telemetry == TelemetryConfig()
    text = (REPO / "configs" / "default.yaml").read_text()
    assert "priority: low" in text


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"latency": {"budget_ms": 5}}, "latency.budget_ms (--latency-budget) must be 10..60000 ms"),
        ({"latency": {"budget_ms": "fast"}}, "latency.budget_ms must be a finite number"),
        ({"latency": {"min_imgsz": 100}}, "latency.min_imgsz must be a multiple of 32"),
        ({"latency": {"max_stride": 0}}, "latency.max_stride must be 1..30"),
        ({"telemetry": {"leak_warn_mib_per_hour": -1}}, "telemetry.leak_warn_mib_per_hour must be >= 0"),
        ({"telemetry": {"leak_window_s": 1}}, "telemetry.leak_window_s must be 5 s .. 7 days"),
        ({"telemetry": {"leak_window": 60}}, "unknown config key 'leak_window'"),
        (
            {"sources": [{"uri": "rtsp://x/a", "priority": "urgent"}]},
            "sources[0]: priority must be low, normal or high",
        ),
    ],
)
def test_bad_values_are_one_line_errors(data: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        from_dict(data)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_yaml_values_and_the_flag() -> None:
    cfg = from_dict(
        {
            "sources": [{"uri": "rtsp://x/a", "priority": "high"}],
            "latency": {"budget_ms": 250, "min_imgsz": 320, "max_stride": 3},
            "telemetry": {"leak_warn_mib_per_hour": 5, "leak_window_s": 3600},
        }
    )
    assert cfg.sources[0].priority == "high" and cfg.latency == LatencyConfig(250.0, 320, 3)
    assert cfg.telemetry == TelemetryConfig(5.0, 3600.0)
    args = build_parser().parse_args(["run", "rtsp://cam/x", "--latency-budget", "300"])
    assert config_from_args(args).latency.budget_ms == 300.0
    assert config_from_args(build_parser().parse_args(["run", "x.mp4"])).latency.budget_ms is None


def test_cli_rejects_a_bad_budget_with_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "streamseg", "run", "rtsp://127.0.0.1:9/x", "--latency-budget", "1"],
        capture_output=True,
        text=True,
        env=OFFLINE_ENV,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "streamseg: error: latency.budget_ms (--latency-budget) must be 10..60000 ms, got 1.0"
    ]


def test_help_explains_the_budget() -> None:
    text = build_parser()._subparsers._group_actions[0].choices["run"].format_help()  # type: ignore[union-attr]
    assert "--latency-budget MS" in text and "low-priority cameras first" in " ".join(text.split())


# -- how it is shown ----------------------------------------------------------------------------------

SECTION = {
    "budget_ms": 300.0,
    "level": 2,
    "levels": 7,
    "rung": "every 2nd frame, input 256",
    "imgsz": 256,
    "strides": {"a": 2},
    "p95_ms": 210.0,
    "inference_busy": 0.6,
    "steps_down": 3,
    "steps_up": 1,
    "deepest": 3,
    "skipped": {"a": 120, "b": 80},
}


def test_summary_shows_the_ladder_and_memory_growth() -> None:
    snap = {"rss_bytes": 300 * 2**20, "memory_growth_bytes_per_hour": {"rss": 1.5 * 2**20, "gpu": None}}
    text = summary_table({**snap, "degradation": SECTION})
    assert "memory: RSS 300.0 MiB, growing RSS +1.5 MiB/h" in text
    assert (
        "latency budget 300 ms: rung 2 of 7 at the end (every 2nd frame, input 256); deepest 3, "
        "3 steps down, 1 up; 200 frames left out by striding"
    ) in text
    assert "latency budget" not in summary_table(snap)


def test_status_and_metrics_carry_level_growth_and_skips() -> None:
    telemetry = Telemetry(system=FakeMemory(rss_bytes=100), gpu_index=None)
    telemetry.register_section("degradation", lambda: SECTION)
    telemetry._leak = SimpleNamespace(growth=lambda: {"rss": 2.5e6})  # type: ignore[assignment]
    status = StatusBuilder(telemetry.snapshot, PreviewSink(), RunInfo(("a", "b"), 4, 2.0))
    doc = status.status()
    assert doc["degradation"]["level"] == 2 and doc["memory_growth_bytes_per_hour"] == {"rss": 2.5e6}
    text = PipelineMetrics(status.status, 4).exposition().decode()
    assert "streamseg_degradation_level 2.0" in text
    assert 'streamseg_memory_growth_bytes_per_hour{kind="rss"} 2.5e+06' in text
    assert 'streamseg_frames_skipped_total{source="a"} 120.0' in text


def test_without_budget_the_level_reads_zero() -> None:
    telemetry = Telemetry(system=FakeMemory(rss_bytes=100), gpu_index=None)
    status = StatusBuilder(telemetry.snapshot, PreviewSink(), RunInfo(("a",), 4, 2.0))
    text = PipelineMetrics(status.status, 4).exposition().decode()
    assert "streamseg_degradation_level 0.0" in text
    assert "streamseg_memory_growth_bytes_per_hour{" not in text  # no estimate yet: no made-up 0
