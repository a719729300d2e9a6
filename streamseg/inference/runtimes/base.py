"""The contract every runtime meets: float32 NCHW batch in, (head output, prototypes) out."""

from __future__ import annotations

import ast
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streamseg.errors import ConfigError, ModelError
from streamseg.types import FloatArray

if TYPE_CHECKING:
    from streamseg.inference.yolo.device.runner import DeviceBackend

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the pipeline needs to know about a loaded model."""

    names: tuple[str, ...]
    stride: int
    num_masks: int
    max_batch: int | None  # None: any batch size
    fixed_input_hw: tuple[int, int] | None  # None: dynamic height/width

    @property
    def num_classes(self) -> int:
        return len(self.names)


class InferenceBackend(ABC):
    """One runtime. ``infer`` may be called only from the inference thread."""

    name: str = "base"

    @property
    @abstractmethod
    def info(self) -> ModelInfo: ...

    @abstractmethod
    def infer(self, batch: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``batch`` (N, 3, H, W) float32 in [0, 1] -> (N, 4 + nc + nm, anchors), (N, nm, H/4, W/4)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release runtime resources."""

    def device_path(self) -> DeviceBackend | None:
        """The backend itself when it can run pre/postprocessing on its device (torch, TensorRT).

        ``SegmentationEngine`` then uploads uint8 frames and gets boxes and box-sized masks back
        (``inference.device_path``); None keeps the NumPy path (ONNX Runtime).
        """
        return None


def names_from_metadata(raw: str | None, num_classes: int) -> tuple[str, ...]:
    """Class names from Ultralytics' ``names`` metadata (a dict literal), or ``class<N>`` when absent."""
    if raw:
        try:
            parsed = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            parsed = None
        if isinstance(parsed, Mapping):
            names = [str(parsed.get(i, f"class{i}")) for i in range(num_classes)]
            return tuple(names)
        if isinstance(parsed, (list, tuple)):
            return tuple(str(n) for n in parsed[:num_classes])
    return tuple(f"class{i}" for i in range(num_classes))


def check_segmentation_outputs(model: str, output_shapes: list[list[int | str | None]]) -> None:
    if len(output_shapes) != 2 or len(output_shapes[0]) != 3 or len(output_shapes[1]) != 4:
        raise ModelError(
            f"{model} is not a segmentation model (expected 2 outputs: detections and mask prototypes, "
            f"got {len(output_shapes)}): use a -seg model"
        )


def create_backend(
    backend: str, model_path: Path, device: str, threads: int = 0, **options: object
) -> InferenceBackend:
    """Instantiate a runtime by name for an already resolved model file (see ``loader.open_backend``).

    ``auto``: TensorRT when importable and a GPU is there, else PyTorch CUDA, else ONNX Runtime; a
    backend that cannot read ``model_path``'s format is skipped (an .onnx cannot go to torch).
    """
    from streamseg.inference.runtimes.probe import choose_backend  # noqa: PLC0415

    if backend == "auto":
        backend, device, why = choose_backend("auto", device)
        suffix = model_path.suffix.lower()
        if backend == "torch" and suffix != ".pt":
            backend, why = "onnxruntime", f"{model_path.name} is not a .pt"
        if backend == "tensorrt" and suffix == ".pt":
            backend, why = "torch", f"{model_path.name} is a .pt (build a plan with streamseg build-engine)"
        log.info("--backend auto: using %s on %s (%s)", backend, device, why)
    if backend == "onnxruntime":
        from streamseg.inference.runtimes.onnxruntime import OnnxRuntimeBackend  # noqa: PLC0415

        return OnnxRuntimeBackend(model_path, device=device, threads=threads)
    if backend == "torch":
        from streamseg.inference.runtimes.torch import TorchBackend  # noqa: PLC0415

        if model_path.suffix.lower() != ".pt":
            raise ConfigError(f"the torch backend loads Ultralytics .pt weights, not {model_path.name}")
        return TorchBackend(model_path, device=device, threads=threads, **options)  # type: ignore[arg-type]
    if backend == "tensorrt":
        from streamseg.inference.runtimes.tensorrt.runtime import TensorRTBackend  # noqa: PLC0415

        return TensorRTBackend(model_path, device=device, **options)  # type: ignore[arg-type]
    raise ConfigError(f"unknown backend '{backend}': use auto, onnxruntime, torch or tensorrt")


def as_float32(array: object) -> FloatArray:
    return np.ascontiguousarray(array, dtype=np.float32)
