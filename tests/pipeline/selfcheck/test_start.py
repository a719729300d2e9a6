"""Running the self-check: only on CUDA, each step once per cache key, and what a failure changes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from streamseg.config import Config, ModelConfig, OutputConfig, PipelineConfig
from streamseg.errors import GpuError
from streamseg.gpu.decode import DecodeTarget
from streamseg.inference.runtimes import InferenceBackend
from streamseg.inference.runtimes.torch import TorchBackend
from streamseg.pipeline.plan import RunPlan
from streamseg.pipeline.selfcheck import SelfCheckReport, at_start, deep, graphs, start
from streamseg.pipeline.selfcheck.steps import GRAPHS, KERNEL, NVDEC, Step
from tests.conftest import FIXTURE_PT, require_asset

CPU = torch.device("cpu")


def _config(tmp_path: Path, graphs: str = "auto", decode: str = "auto") -> Config:
    model = tmp_path / "m.pt"
    model.write_bytes(b"weights")
    return Config(
        model=ModelConfig(path=str(model), device="cpu", cuda_graphs=graphs),
        output=OutputConfig(record="out.mp4"),
        pipeline=PipelineConfig(decode=decode),
    )


def _plan(nvdec: bool = True) -> RunPlan:
    """A plan whose device path is on the CPU device (the stand-in for cuda:0 here)."""
    return RunPlan(
        "torch on cpu (test)", CPU, "", DecodeTarget(CPU, nvdec=True) if nvdec else None, "libx264"
    )


class Counted:
    """A stand-in step that counts its runs."""

    def __init__(self, step: Step) -> None:
        self.step = step
        self.runs = 0

    def __call__(self, *args: object) -> Step:
        self.runs += 1
        return self.step


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> Callable[[Step, Step], tuple[Counted, Counted]]:
    def install(nvdec: Step, graphs: Step) -> tuple[Counted, Counted]:
        decode, graph = Counted(nvdec), Counted(graphs)
        monkeypatch.setattr(start, "decode_step", decode)
        monkeypatch.setattr(start, "_graph_check", graph)
        return decode, graph

    return install


def _check(cfg: Config, plan: RunPlan, cache: Path, refresh: bool = False) -> SelfCheckReport:
    return start.run_checks(cfg, plan, CPU, "torch", cache_dir=cache, refresh=refresh)


def test_nothing_is_checked_off_cuda(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    host = RunPlan(
        "onnxruntime on cpu", None, "the onnxruntime backend takes frames from the host", None, "libx264"
    )
    report = at_start(cfg, host, cache_dir=tmp_path)
    assert report.line is None and report.config is cfg and report.plan is host and not report.steps
    report = at_start(cfg, _plan(), cache_dir=tmp_path)  # a device path on the CPU: nothing either
    assert report.line is None
    assert not (tmp_path / "selfcheck.json").exists()


def test_a_restart_reads_the_cache(
    tmp_path: Path, steps: Callable[[Step, Step], tuple[Counted, Counted]]
) -> None:
    decode, graph = steps(Step(NVDEC, True), Step(GRAPHS, True))
    cfg, plan = _config(tmp_path), _plan()
    first = _check(cfg, plan, tmp_path / "cache")
    assert (decode.runs, graph.runs) == (1, 1)
    assert first.line is not None and first.line.startswith("GPU self-check (cpu cpu, ")
    assert " s): decode NVDEC, postprocess cpu, overlay cpu, CUDA graphs on, encoder x264" in first.line
    assert first.config == cfg and first.plan == plan and not first.turned_off
    second = _check(cfg, plan, tmp_path / "cache")
    assert (decode.runs, graph.runs) == (1, 1)  # not run again
    assert second.line is not None and second.line.startswith(
        "GPU self-check (cpu cpu, cached): decode NVDEC"
    )
    assert second.steps == first.steps
    _check(cfg, plan, tmp_path / "cache", refresh=True)  # doctor --deep
    assert (decode.runs, graph.runs) == (2, 2)
    (tmp_path / "other").mkdir()
    _check(_config(tmp_path / "other"), plan, tmp_path / "cache")
    assert (decode.runs, graph.runs) == (3, 3)  # another model file: another key


def test_only_the_steps_a_run_needs(
    tmp_path: Path, steps: Callable[[Step, Step], tuple[Counted, Counted]]
) -> None:
    decode, graph = steps(Step(NVDEC, True), Step(GRAPHS, True))
    report = _check(_config(tmp_path, graphs="off"), _plan(nvdec=False), tmp_path / "cache")
    assert (decode.runs, graph.runs) == (0, 0)
    assert set(report.steps) == {KERNEL}
    assert report.line is not None and "CUDA graphs off (--cuda-graphs off)" in report.line
    _check(_config(tmp_path), _plan(), tmp_path / "cache")  # a later run that needs them: run now
    assert (decode.runs, graph.runs) == (1, 1)


def test_nvdec_unlike_the_cpu_decodes_on_the_cpu(
    tmp_path: Path, steps: Callable[[Step, Step], tuple[Counted, Counted]]
) -> None:
    decode, _ = steps(
        Step(NVDEC, False, "its frames differ from the CPU's (mean 7.3 levels > 2)"), Step(GRAPHS, True)
    )
    cfg = _config(tmp_path)
    for _ in range(2):  # the failure is cached: the second run turns NVDEC off without checking
        report = _check(cfg, _plan(), tmp_path / "cache")
        assert report.plan is not None and report.plan.decode is None
        assert report.config.pipeline.decode == "cpu"
        assert report.turned_off == [NVDEC]
        assert report.line is not None
        assert "decode CPU (NVDEC its frames differ from the CPU's (mean 7.3 levels > 2))" in report.line
    assert decode.runs == 1
    with pytest.raises(GpuError, match=r"^--decode gpu: NVDEC failed the GPU self-check .*use --decode cpu"):
        _check(_config(tmp_path, decode="gpu"), _plan(), tmp_path / "cache")


def test_graphs_unlike_eager_run_eagerly(
    tmp_path: Path, steps: Callable[[Step, Step], tuple[Counted, Counted]]
) -> None:
    why = "a batch of 3 after the other bucket was captured replays unlike eager: frame 1: boxes moved"
    steps(Step(NVDEC, True), Step(GRAPHS, False, why))
    report = _check(_config(tmp_path), _plan(), tmp_path / "cache")
    assert report.config.model.cuda_graphs == "off"
    assert report.line is not None and f"CUDA graphs off ({why})" in report.line
    assert report.plan is not None and report.plan.decode is not None  # the rest is untouched
    with pytest.raises(GpuError, match=r"^--cuda-graphs on: CUDA graphs failed the GPU self-check"):
        _check(_config(tmp_path, graphs="on"), _plan(), tmp_path / "cache")


def test_a_failing_kernel_stops_the_run_and_is_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fails(device: torch.device) -> Step:
        raise GpuError("a test kernel failed on cuda:0: the GPU ran out of memory: use ...", "kernel")

    monkeypatch.setattr(start, "device_runs_code", fails)
    with pytest.raises(GpuError, match="a test kernel failed"):
        _check(_config(tmp_path), _plan(), tmp_path / "cache")
    assert not (tmp_path / "cache" / "selfcheck.json").exists()


def test_a_step_that_could_not_run_is_tried_again(
    tmp_path: Path, steps: Callable[[Step, Step], tuple[Counted, Counted]]
) -> None:
    _, graph = steps(Step(NVDEC, True), Step.unchecked(GRAPHS, "model file not found: m.pt"))
    cfg = _config(tmp_path)
    report = _check(cfg, _plan(), tmp_path / "cache")
    assert (
        report.line is not None and "CUDA graphs on (not checked: model file not found: m.pt)" in report.line
    )
    _check(cfg, _plan(), tmp_path / "cache")
    assert graph.runs == 2
    saved = json.loads((tmp_path / "cache" / "selfcheck.json").read_text())
    assert [sorted(entry) for entry in saved.values()] == [[KERNEL, NVDEC]]


def test_the_graph_step_loads_the_runs_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The torch backend, twice (graphs on and off), with its device path (tests/pipeline/selfcheck/
    test_graphs.py runs the comparison itself)."""
    made: list[tuple[bool, InferenceBackend]] = []

    def compare(make_backend: graphs.BackendFactory, imgsz: int) -> Step:
        assert imgsz == 320
        made.extend((on, make_backend(on)) for on in (False, True))
        return Step(GRAPHS, True)

    monkeypatch.setattr(start, "graphs_step", compare)
    model = ModelConfig(path=str(require_asset(FIXTURE_PT)), device="cpu", imgsz=320)
    assert start._graph_check(model, CPU, "torch") == Step(GRAPHS, True)
    assert [on for on, _ in made] == [False, True]
    for _, backend in made:
        assert isinstance(backend, TorchBackend) and backend.device_path() is backend
        backend.close()
    tensorrt = start._graph_check(model, CPU, "tensorrt")
    assert tensorrt.ok and not tensorrt.checked and tensorrt.why == "not checked: tensorrt"
    given = start._graph_check(model, CPU, "given")
    assert given.why == "not checked: a backend given by the caller"
    missing = ModelConfig(path=str(tmp_path / "gone.pt"), engines_dir=str(tmp_path))
    step = start._graph_check(missing, CPU, "torch")
    assert step.ok and not step.checked and "gone.pt" in step.why


def test_deep_without_a_gpu_is_one_line() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: tests/gpu/on_device checks deep there")
    report = deep("cuda:0", "yolov8n-seg.pt")
    assert report.line is not None and report.line.startswith("GPU self-check: no GPU here (")
    assert report.line.endswith("); nothing to check") and "\n" not in report.line
    assert not report.steps
    assert (
        deep("cpu", "yolov8n-seg.pt").line
        == "GPU self-check: no GPU here (--device cpu is not a GPU); nothing to check"
    )
