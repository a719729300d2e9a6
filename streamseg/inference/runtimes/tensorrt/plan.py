"""TensorRT plan files and their JSON sidecars: naming, writing, and the check before loading.

Pure Python (no TensorRT import), so CPU CI tests all of it. Why a sidecar: a serialized plan only
runs on the GPU architecture and TensorRT version that built it, and fails late and obscurely
otherwise. The sidecar records what the plan was built from and for, and ``check_sidecar`` refuses a
mismatch with one line that says how to rebuild.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from streamseg.errors import ConfigError, ModelError

SIDECAR_VERSION = 1
PRECISIONS = ("fp32", "fp16", "int8")


class EngineMismatchError(ModelError):
    """A plan was built for another GPU, TensorRT version or model."""


@dataclass(frozen=True)
class BuildSpec:
    """What ``streamseg build-engine`` builds: precision, batch range and input size (H, W)."""

    precision: str = "fp16"
    batch_min: int = 1
    batch_max: int = 16
    input_hw: tuple[int, int] = (384, 640)
    calib_images: str | None = None

    @property
    def batch_opt(self) -> int:
        """The profile's optimisation point: the largest power of two in range, at most 8."""
        opt = self.batch_min
        while opt * 2 <= min(self.batch_max, 8):
            opt *= 2
        return max(opt, self.batch_min)

    def profile(self) -> dict[str, list[int]]:
        h, w = self.input_hw
        return {
            "min": [self.batch_min, 3, h, w],
            "opt": [self.batch_opt, 3, h, w],
            "max": [self.batch_max, 3, h, w],
        }


@dataclass(frozen=True)
class Sidecar:
    """Everything needed to decide whether a plan may be loaded here, and to use it without ONNX."""

    model_sha256: str  # the ONNX the plan was built from
    weights_sha256: str | None  # the .pt that ONNX came from, when known
    tensorrt_version: str
    gpu_name: str
    compute_capability: str  # "8.9"
    precision: str
    profile: dict[str, list[int]]
    inputs: dict[str, list[int]]  # name -> shape as built (-1 = dynamic)
    outputs: dict[str, list[int]]
    names: list[str] = field(default_factory=list)
    stride: int = 32
    num_masks: int = 32
    sidecar_version: int = SIDECAR_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = "sidecar") -> Sidecar:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EngineMismatchError(f"{where} is not valid JSON ({exc.msg}): rebuild the engine") from None
        if not isinstance(raw, dict):
            raise EngineMismatchError(f"{where} is not a JSON object: rebuild the engine")
        known = set(cls.__dataclass_fields__)
        missing = [
            k for k in ("model_sha256", "tensorrt_version", "gpu_name", "compute_capability") if k not in raw
        ]
        if missing:
            raise EngineMismatchError(f"{where} lacks {', '.join(missing)}: rebuild the engine")
        try:
            return cls(**{k: v for k, v in raw.items() if k in known})
        except TypeError as exc:
            raise EngineMismatchError(f"{where} is malformed ({exc}): rebuild the engine") from None


def sidecar_path(plan: Path) -> Path:
    return plan.with_name(plan.name + ".json")


def read_sidecar(plan: Path) -> Sidecar:
    side = sidecar_path(plan)
    if not side.is_file():
        raise EngineMismatchError(
            f"{plan} has no sidecar {side.name}: rebuild it with streamseg build-engine"
        )
    return Sidecar.from_json(side.read_text(encoding="utf-8"), str(side))


def write_sidecar(plan: Path, sidecar: Sidecar) -> Path:
    side = sidecar_path(plan)
    tmp = side.with_name(side.name + ".partial")
    tmp.write_text(sidecar.to_json(), encoding="utf-8")
    tmp.replace(side)
    return side


def check_sidecar(
    sidecar: Sidecar,
    plan: Path,
    *,
    gpu_name: str,
    compute_capability: str,
    tensorrt_version: str,
    model_sha256: str | None = None,
) -> None:
    """Raise ``EngineMismatchError`` (one line) unless the plan was built here, for this model."""
    rebuild = "rebuild with: streamseg build-engine --model MODEL --force"
    if sidecar.sidecar_version != SIDECAR_VERSION:
        raise EngineMismatchError(f"{plan.name}: sidecar version {sidecar.sidecar_version}; {rebuild}")
    if sidecar.tensorrt_version != tensorrt_version:
        raise EngineMismatchError(
            f"{plan.name} was built with TensorRT {sidecar.tensorrt_version}, this is TensorRT "
            f"{tensorrt_version}; {rebuild}"
        )
    if sidecar.compute_capability != compute_capability or sidecar.gpu_name != gpu_name:
        raise EngineMismatchError(
            f"{plan.name} was built for {sidecar.gpu_name} (compute {sidecar.compute_capability}), this is "
            f"{gpu_name} (compute {compute_capability}); {rebuild}"
        )
    if model_sha256 is not None and sidecar.model_sha256 != model_sha256:
        raise EngineMismatchError(
            f"{plan.name} was built from another model (sha256 {sidecar.model_sha256[:12]}, expected "
            f"{model_sha256[:12]}); {rebuild}"
        )
    if sidecar.precision not in PRECISIONS:
        raise EngineMismatchError(f"{plan.name}: unknown precision '{sidecar.precision}'; {rebuild}")


def plan_name(model_stem: str, model_sha256: str, spec: BuildSpec) -> str:
    """``yolov8n-seg-<sha12>-fp16-b1-16-640x384.plan``: one file per model and build settings."""
    h, w = spec.input_hw
    return (
        f"{model_stem}-{model_sha256[:12]}-{spec.precision}-b{spec.batch_min}-{spec.batch_max}-{w}x{h}.plan"
    )


def parse_batch_range(text: str) -> tuple[int, int]:
    """``"1-16"`` -> (1, 16); ``"8"`` -> (8, 8)."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text)
    if match is None:
        raise ConfigError(f"--batch must be N or MIN-MAX (e.g. 1-16), got '{text}'")
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) else low
    if low < 1 or high < low or high > 256:
        raise ConfigError(f"--batch range must satisfy 1 <= MIN <= MAX <= 256, got '{text}'")
    return low, high


def parse_imgsz(text: str, stride: int = 32) -> tuple[int, int]:
    """``"640x384"`` (width x height) or ``"640"`` (square) -> (height, width), stride-aligned."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", text)
    if match is None:
        raise ConfigError(f"--imgsz must be WIDTHxHEIGHT (e.g. 640x384) or N, got '{text}'")
    w = int(match.group(1))
    h = int(match.group(2)) if match.group(2) else w
    for side in (w, h):
        if side < stride or side > 4096 or side % stride:
            raise ConfigError(
                f"--imgsz sides must be multiples of {stride} between {stride} and 4096, got '{text}'"
            )
    return h, w


def build_spec(*, fp16: bool, int8: bool, calib_images: str | None, batch: str, imgsz: str) -> BuildSpec:
    """Validate ``build-engine`` flags into a ``BuildSpec``."""
    if int8 and not calib_images:
        raise ConfigError("--int8 needs --calib-images DIR (a folder of representative frames)")
    if calib_images and not int8:
        raise ConfigError("--calib-images is only used with --int8")
    if calib_images and not Path(calib_images).is_dir():
        raise ConfigError(f"--calib-images: not a folder: {calib_images}")
    low, high = parse_batch_range(batch)
    precision = "int8" if int8 else "fp16" if fp16 else "fp32"
    return BuildSpec(precision, low, high, parse_imgsz(imgsz), calib_images)


def find_plan(engines_dir: Path, model_stem: str, model_sha256: str) -> list[Path]:
    """Plans in ``engines_dir`` built from this model, newest first."""
    if not engines_dir.is_dir():
        return []
    prefix = f"{model_stem}-{model_sha256[:12]}-"
    found = [p for p in engines_dir.glob(f"{prefix}*.plan") if sidecar_path(p).is_file()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def summary(sidecar: Sidecar) -> dict[str, Any]:
    """The fields worth printing after a build."""
    return {
        "precision": sidecar.precision,
        "profile": sidecar.profile,
        "gpu": f"{sidecar.gpu_name} ({sidecar.compute_capability})",
        "tensorrt": sidecar.tensorrt_version,
    }
