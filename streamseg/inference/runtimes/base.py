"""The contract every runtime meets: float32 NCHW batch in, (head output, prototypes) out."""

from __future__ import annotations

import ast
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from streamseg.errors import ModelError
from streamseg.types import FloatArray

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)


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


class DeviceBackend(Protocol):
    """What a backend offers the device path: a device, a stream, and its network as a function of
    device tensors that may be captured into a CUDA graph (``inference.yolo.device``)."""

    @property
    def device(self) -> torch.device: ...

    @property
    def stream(self) -> Any:  # torch.cuda.Stream on CUDA, None on CPU
        ...

    @property
    def dtype(self) -> torch.dtype:
        """The network input's dtype (FP16 on a GPU)."""

    @property
    def graphs(self) -> bool:
        """Whether the device path may capture its bodies, this network included, as CUDA graphs."""

    @property
    def max_batch(self) -> int | None:
        """The largest batch the network takes (a TensorRT profile), or None."""

    def network(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, h, w) -> (N, 4 + nc + nm, A) and (N, nm, mh, mw) on the device, without waiting."""


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
        (``inference.yolo.device.runner``); None keeps the NumPy path (ONNX Runtime).
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


def as_float32(array: object) -> FloatArray:
    return np.ascontiguousarray(array, dtype=np.float32)
