"""TensorRT plan sidecars, build-engine flags, doctor and ``auto``: the pure-Python parts, on the CPU."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from streamseg.cli import build_parser, main
from streamseg.errors import BackendUnavailableError, ConfigError
from streamseg.inference.runtimes import create_backend
from streamseg.inference.runtimes.tensorrt.build import default_spec
from streamseg.inference.runtimes.tensorrt.library import tensorrt_version
from streamseg.inference.runtimes.tensorrt.plan import (
    BuildSpec,
    EngineMismatchError,
    Sidecar,
    build_spec,
    check_sidecar,
    find_plan,
    parse_batch_range,
    parse_imgsz,
    plan_name,
    read_sidecar,
    write_sidecar,
)

SHA = "ab" * 32
HERE = {"gpu_name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0", "tensorrt_version": "10.13.0.35"}


def sidecar(**changes: object) -> Sidecar:
    spec = BuildSpec("fp16", 1, 16, (384, 640))
    base = Sidecar(
        model_sha256=SHA,
        weights_sha256="cd" * 32,
        tensorrt_version=HERE["tensorrt_version"],
        gpu_name=HERE["gpu_name"],
        compute_capability=HERE["compute_capability"],
        precision="fp16",
        profile=spec.profile(),
        inputs={"images": [-1, 3, 384, 640]},
        outputs={"output0": [-1, 116, 5040], "output1": [-1, 32, 96, 160]},
        names=["person", "car"],
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_sidecar_round_trip_and_check(tmp_path: Path) -> None:
    plan = tmp_path / plan_name("yolov8n-seg", SHA, BuildSpec())
    plan.write_bytes(b"plan")
    write_sidecar(plan, sidecar())
    loaded = read_sidecar(plan)
    assert loaded == sidecar()
    check_sidecar(loaded, plan, model_sha256=SHA, **HERE)
    assert json.loads(plan.with_name(plan.name + ".json").read_text())["profile"]["max"] == [16, 3, 384, 640]
    assert find_plan(tmp_path, "yolov8n-seg", SHA) == [plan]
    assert find_plan(tmp_path, "yolov8n-seg", "ef" * 32) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"gpu_name": "NVIDIA A100-SXM4-80GB", "compute_capability": "8.0"}, "built for NVIDIA A100"),
        ({"compute_capability": "8.9"}, r"compute 8\.9"),
        ({"tensorrt_version": "10.3.0"}, "TensorRT 10.3.0, this is TensorRT 10.13.0.35"),
        ({"model_sha256": "ef" * 32}, "another model"),
        ({"sidecar_version": 0}, "sidecar version"),
        ({"precision": "fp8"}, "unknown precision"),
    ],
)
def test_mismatched_plan_is_refused_with_one_line(change: dict[str, object], message: str) -> None:
    with pytest.raises(EngineMismatchError, match=message) as info:
        check_sidecar(sidecar(**change), Path("engines/x.plan"), model_sha256=SHA, **HERE)
    text = str(info.value)
    assert "\n" not in text and "streamseg build-engine" in text


def test_missing_or_broken_sidecar(tmp_path: Path) -> None:
    plan = tmp_path / "a.plan"
    plan.write_bytes(b"plan")
    with pytest.raises(EngineMismatchError, match="has no sidecar"):
        read_sidecar(plan)
    (tmp_path / "a.plan.json").write_text("{not json")
    with pytest.raises(EngineMismatchError, match="not valid JSON"):
        read_sidecar(plan)
    (tmp_path / "a.plan.json").write_text(json.dumps({"model_sha256": SHA}))
    with pytest.raises(EngineMismatchError, match="lacks tensorrt_version"):
        read_sidecar(plan)


def test_build_flags() -> None:
    assert parse_batch_range("1-16") == (1, 16)
    assert parse_batch_range("4") == (4, 4)
    assert parse_imgsz("640x384") == (384, 640)
    assert parse_imgsz("640") == (640, 640)
    for bad in ("0-4", "8-2", "a", "1-999"):
        with pytest.raises(ConfigError, match="--batch"):
            parse_batch_range(bad)
    for bad in ("640x380", "10", "x"):
        with pytest.raises(ConfigError, match="--imgsz"):
            parse_imgsz(bad)
    spec = build_spec(fp16=True, int8=False, calib_images=None, batch="2-8", imgsz="640x384")
    assert spec == BuildSpec("fp16", 2, 8, (384, 640))
    assert spec.profile() == {"min": [2, 3, 384, 640], "opt": [8, 3, 384, 640], "max": [8, 3, 384, 640]}
    assert BuildSpec("fp16", 1, 16).batch_opt == 8
    assert build_spec(fp16=False, int8=False, calib_images=None, batch="1", imgsz="320").precision == "fp32"
    with pytest.raises(ConfigError, match="--int8 needs --calib-images"):
        build_spec(fp16=False, int8=True, calib_images=None, batch="1-16", imgsz="640x384")
    with pytest.raises(ConfigError, match="not a folder"):
        build_spec(fp16=False, int8=True, calib_images="/nonexistent", batch="1-16", imgsz="640x384")
    assert default_spec(640, 4) == BuildSpec("fp16", 1, 16, (384, 640))
    assert plan_name("m", SHA, spec) == f"m-{SHA[:12]}-fp16-b2-8-640x384.plan"


def test_build_engine_cli_parsing(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        [
            "build-engine",
            "--model",
            "yolov8n-seg.pt",
            "--int8",
            "--calib-images",
            str(tmp_path),
            "--batch",
            "1-8",
        ]
    )
    assert (args.command, args.int8, args.fp16, args.batch, args.imgsz) == (
        "build-engine",
        True,
        False,
        "1-8",
        "640x384",
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args(["build-engine", "--fp16", "--int8"])  # mutually exclusive


def test_build_engine_without_tensorrt_is_one_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    if tensorrt_version()[0] is not None:
        pytest.skip("TensorRT is installed here")
    assert main(["build-engine", "--model", "x.pt", "--fp16"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "TensorRT is unavailable" in err and "streamseg[gpu]" in err
    assert main(["build-engine", "--int8"]) == 2
    assert "--calib-images" in capsys.readouterr().err


def test_stub_only_tensorrt_is_not_mistaken_for_the_runtime() -> None:
    """tensorrt-stubs installs a bare ``tensorrt`` folder that imports as an empty namespace package."""
    version, why = tensorrt_version()
    if version is None:
        assert why
    with pytest.raises(BackendUnavailableError, match=r"TensorRT|GPU"):
        create_backend("tensorrt", Path("x.onnx"), "cuda:0")


def test_doctor_prints_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    names = (
        "NVML / driver",
        "PyTorch",
        "CUDA (PyTorch)",
        "TensorRT",
        "ONNX Runtime",
        "NVDEC",
        "NVENC",
        "--backend auto",
    )
    for name in names:
        assert name in out
    assert "CPUExecutionProvider" in out
