"""The first contact with a user's GPU: a CUDA failure while the model moves to the device is not a bad
model file; the CUDA probe runs a kernel and checks the wheel's code against the GPU; ``auto`` never
spends minutes building a TensorRT plan unasked, and an explicit build says so first."""

from __future__ import annotations

import logging
import types
from pathlib import Path

import pytest
import torch

from streamseg.config import ModelConfig
from streamseg.errors import GpuError, ModelError
from streamseg.inference.model_files import export_key, sha256_of
from streamseg.inference.runtimes import create_backend, probe, select
from streamseg.inference.runtimes.base import InferenceBackend
from streamseg.inference.runtimes.tensorrt import library
from streamseg.inference.runtimes.tensorrt.plan import BuildSpec, Sidecar, plan_name, write_sidecar
from tests.conftest import FIXTURE_PT, require_asset

NO_KERNEL = (
    "CUDA error: no kernel image is available for execution on the device\nCUDA kernel errors might be "
    "asynchronously reported at some other API call, so the stacktrace below might be incorrect."
)


# ------------------------------------------------------------------ the model's move to the device
def test_a_cuda_error_moving_the_model_is_a_gpu_error_not_a_bad_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading and fusing run on the CPU; the move (here FP16, what a GPU gets) is where the GPU fails."""

    def no_kernel(self: torch.nn.Module) -> torch.nn.Module:
        raise torch.AcceleratorError(NO_KERNEL)

    monkeypatch.setattr(torch.nn.Module, "half", no_kernel)
    with pytest.raises(GpuError) as caught:
        create_backend("torch", require_asset(FIXTURE_PT), "cpu", half=True)
    message = str(caught.value)
    assert "not a valid" not in message
    assert "no GPU code for this GPU" in message and "install a PyTorch build" in message
    assert isinstance(caught.value.__cause__, torch.AcceleratorError)


def test_out_of_memory_moving_the_model_names_the_way_round(monkeypatch: pytest.MonkeyPatch) -> None:
    real_to = torch.nn.Module.to

    def full(self: torch.nn.Module, *args: object, **kwargs: object) -> torch.nn.Module:
        if args and isinstance(args[0], torch.device):  # the backend's move, not the loader's "cpu"
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB.")
        return real_to(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(torch.nn.Module, "to", full)
    with pytest.raises(GpuError, match=r"ran out of memory \(tried to allocate 20.00 MiB\).*--batch"):
        create_backend("torch", require_asset(FIXTURE_PT), "cpu")


def test_an_error_moving_the_model_that_is_not_the_gpu_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: torch.nn.Module) -> torch.nn.Module:
        raise ValueError("half of what")

    monkeypatch.setattr(torch.nn.Module, "half", broken)
    with pytest.raises(ValueError, match="half of what"):
        create_backend("torch", require_asset(FIXTURE_PT), "cpu", half=True)


def test_a_bad_file_is_still_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "junk.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="not a valid Ultralytics model"):
        create_backend("torch", bad, "cpu")


# ------------------------------------------------------------------ the CUDA probe
def _a_gpu(monkeypatch: pytest.MonkeyPatch, capability: tuple[int, int], arch_list: list[str]) -> None:
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "NVIDIA Future GPU")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=0: capability)
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: arch_list)


def test_the_probe_compares_the_wheel_with_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    launched: list[torch.device] = []
    monkeypatch.setattr(probe, "launch_problem", launched.append)
    _a_gpu(monkeypatch, (12, 0), ["sm_75", "sm_80", "sm_86", "sm_90"])
    check = probe.cuda_check(0)
    assert not check.ok
    assert check.detail == (
        "cuda:0 NVIDIA Future GPU, compute capability 12.0: this PyTorch has kernels for sm_75..sm_90, "
        "the GPU is sm_120 (install a PyTorch build for it)"
    )
    assert not launched  # no kernel is launched where none can run
    assert probe.cuda_visible_check(0).ok  # listed, though


def test_the_probe_launches_a_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    _a_gpu(monkeypatch, (9, 0), ["sm_80", "sm_90"])
    launched: list[torch.device] = []

    def launch(device: torch.device) -> str | None:
        launched.append(device)
        return None

    monkeypatch.setattr(probe, "launch_problem", launch)
    assert probe.cuda_check(0).ok
    assert launched == [torch.device("cuda", 0)]
    monkeypatch.setattr(probe, "launch_problem", lambda device: "the GPU ran out of memory: use ...")
    check = probe.cuda_check(0)
    assert not check.ok and check.detail.endswith(
        "compute capability 9.0: the GPU ran out of memory: use ..."
    )


def test_without_a_gpu_the_probe_says_so() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    check = probe.cuda_check(0)
    assert not check.ok and ("no CUDA device" in check.detail or "CPU-only" in check.detail)


# ------------------------------------------------------------------ auto and TensorRT plans
@pytest.fixture
def gpu_with_tensorrt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe, "cuda_check", lambda index=0: probe.Check("CUDA", True, "cuda:0 GPU"))
    monkeypatch.setattr(probe, "tensorrt_check", lambda: probe.Check("TensorRT", True, "10.3"))
    monkeypatch.setattr(select, "_ort_has_cuda", lambda: False)


@pytest.mark.usefixtures("gpu_with_tensorrt")
def test_auto_takes_torch_for_a_pt_without_a_plan(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(select, "usable_plan", lambda model, engines_dir, index: None)
    cfg = ModelConfig(path="my-seg.pt", device="cuda:0", engines_dir="engines")
    with caplog.at_level(logging.INFO, logger="streamseg.inference.runtimes.select"):
        backend, device, why = select.select_backend(cfg)
    assert (backend, device) == ("torch", "cuda:0")
    assert "streamseg build-engine --model my-seg.pt" in why
    lines = [r.getMessage() for r in caplog.records if "build-engine" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("--backend auto: torch on cuda:0")


@pytest.mark.usefixtures("gpu_with_tensorrt")
def test_auto_takes_tensorrt_when_a_plan_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, Path, int]] = []

    def found(model: str, engines_dir: Path, index: int) -> Path:
        asked.append((model, engines_dir, index))
        return engines_dir / "my-seg.plan"

    monkeypatch.setattr(select, "usable_plan", found)
    cfg = ModelConfig(path="my-seg.pt", device="cuda:1", engines_dir="eng")
    assert select.select_backend(cfg, quiet=True)[:2] == ("tensorrt", "cuda:1")
    assert asked == [("my-seg.pt", Path("eng"), 1)]


@pytest.mark.usefixtures("gpu_with_tensorrt")
def test_auto_with_a_plan_file_or_an_onnx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(select, "usable_plan", lambda model, engines_dir, index: None)
    plan = select.select_backend(ModelConfig(path="engines/x.plan", device="cuda:0"), quiet=True)
    assert plan[:2] == ("tensorrt", "cuda:0")
    onnx = select.select_backend(ModelConfig(path="x.onnx", device="cuda:0"), quiet=True)
    assert onnx[:2] == ("onnxruntime", "cpu")  # no plan: no build; ONNX Runtime without CUDA provider


def test_an_explicit_tensorrt_build_says_so_before_it_starts(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(select, "usable_plan", lambda model, engines_dir, index: None)
    monkeypatch.setattr(select, "resolve_for_backend", lambda backend, model, engines_dir: Path(model))
    said_before: list[bool] = []

    def create(
        backend: str, path: Path, device: str, threads: int = 0, **options: object
    ) -> InferenceBackend:
        said_before.append(any("takes minutes" in r.getMessage() for r in caplog.records))
        return types.SimpleNamespace()  # type: ignore[return-value]

    monkeypatch.setattr(select, "create_backend", create)
    cfg = ModelConfig(path="m.onnx", backend="tensorrt", device="cuda:0", engines_dir="eng")
    with caplog.at_level(logging.WARNING, logger="streamseg.inference.runtimes.select"):
        select.open_backend(cfg)
    building = [r.getMessage() for r in caplog.records if "takes minutes" in r.getMessage()]
    assert building == [
        "building a TensorRT plan for m.onnx takes minutes; it is cached in eng for the next runs"
    ]
    assert said_before == [True]
    caplog.clear()
    monkeypatch.setattr(select, "usable_plan", lambda model, engines_dir, index: Path("eng/m.plan"))
    with caplog.at_level(logging.WARNING, logger="streamseg.inference.runtimes.select"):
        select.open_backend(cfg)
    assert not [r for r in caplog.records if "takes minutes" in r.getMessage()]


def _plan_for(onnx: Path, engines: Path, gpu: str = "NVIDIA Test", trt: str = "10.3") -> Path:
    sha = sha256_of(onnx)
    plan = engines / plan_name(onnx.stem, sha, BuildSpec())
    plan.write_bytes(b"plan")
    sidecar = Sidecar(sha, None, trt, gpu, "8.9", "fp16", BuildSpec().profile(), {}, {})
    write_sidecar(plan, sidecar)
    return plan


@pytest.fixture
def this_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(library, "import_tensorrt", lambda: types.SimpleNamespace(__version__="10.3"))
    monkeypatch.setattr(library, "gpu_identity", lambda index: ("NVIDIA Test", "8.9"))


@pytest.mark.usefixtures("this_gpu")
def test_usable_plan_for_an_onnx(tmp_path: Path) -> None:
    engines = tmp_path / "engines"
    engines.mkdir()
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"an onnx")
    assert select.usable_plan(str(onnx), engines, 0) is None
    _plan_for(onnx, engines, gpu="NVIDIA Other")  # built for another GPU: not usable here
    assert select.usable_plan(str(onnx), engines, 0) is None
    plan = _plan_for(onnx, engines)
    assert select.usable_plan(str(onnx), engines, 0) == plan
    assert select.usable_plan(str(tmp_path / "missing.onnx"), engines, 0) is None


@pytest.mark.usefixtures("this_gpu")
def test_usable_plan_for_a_pt_goes_through_its_cached_export(tmp_path: Path) -> None:
    engines = tmp_path / "engines"
    engines.mkdir()
    weights = tmp_path / "my-seg.pt"
    weights.write_bytes(b"weights")
    assert select.usable_plan(str(weights), engines, 0) is None  # not even exported: nothing to find
    onnx = engines / f"my-seg-{export_key(weights)}.onnx"
    onnx.write_bytes(b"the export")
    assert select.usable_plan(str(weights), engines, 0) is None
    plan = _plan_for(onnx, engines)
    assert select.usable_plan(str(weights), engines, 0) == plan
