"""ONNX Runtime backend: the CPU path, and CUDA through ORT's CUDA provider when it is installed."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from streamseg.errors import BackendUnavailableError, ModelError
from streamseg.inference.runtimes.base import (
    InferenceBackend,
    ModelInfo,
    as_float32,
    check_segmentation_outputs,
    names_from_metadata,
)
from streamseg.types import FloatArray

logger = logging.getLogger(__name__)


def ort_session(model_path: Path, device: str = "cpu", threads: int = 0) -> Any:
    """An ONNX Runtime session with our options on the CPU or CUDA; a bad file is a one-line error."""
    import onnxruntime as ort  # noqa: PLC0415 - keep `import streamseg` light

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    # The memory pattern plans (and touches) a new layout for every batch size it meets: with live
    # cameras the batch size changes whenever one reconnects, and RSS stepped up by ~6 MiB each time
    # for minutes into a run. Off, memory stays flat at no measurable cost in speed
    # (tools/bench_ort_mem_pattern.py).
    options.enable_mem_pattern = False
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise BackendUnavailableError(
                "ONNX Runtime here has no CUDA provider: use --device cpu or install onnxruntime-gpu"
            )
        index = int(device.split(":")[1]) if ":" in device else 0
        providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]  # type: ignore[list-item]
    try:
        return ort.InferenceSession(str(model_path), options, providers=providers)
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... types
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{model_path} is not a valid ONNX model ({first})") from None


class OnnxRuntimeBackend(InferenceBackend):
    name = "onnxruntime"

    def __init__(self, model_path: Path, device: str = "cpu", threads: int = 0) -> None:
        self._session = ort_session(model_path, device, threads)
        outputs = self._session.get_outputs()
        check_segmentation_outputs(str(model_path), [list(o.shape) for o in outputs])
        meta = self._session.get_modelmeta().custom_metadata_map
        task = meta.get("task")
        if task is not None and task != "segment":
            raise ModelError(f"{model_path} is a '{task}' model, not a segmentation model: use a -seg model")
        head_channels, num_masks = outputs[0].shape[1], outputs[1].shape[1]
        if not isinstance(num_masks, int):
            raise ModelError(f"{model_path}: mask prototype channel count is not static")
        num_classes = head_channels - 4 - num_masks if isinstance(head_channels, int) else None
        names = names_from_metadata(meta.get("names"), num_classes or 0)
        if num_classes is None:
            num_classes = len(names)
        if num_classes <= 0:
            raise ModelError(f"{model_path}: cannot tell the number of classes from its outputs or metadata")
        inp = self._session.get_inputs()[0]
        self._input_name = inp.name
        batch_dim, _, h, w = inp.shape
        fixed = (int(h), int(w)) if isinstance(h, int) and isinstance(w, int) else None
        self._info = ModelInfo(
            names=names,
            stride=int(meta.get("stride", 32)),
            num_masks=num_masks,
            max_batch=batch_dim if isinstance(batch_dim, int) else None,
            fixed_input_hw=fixed,
        )
        logger.debug("onnxruntime session on %s: %s", self._session.get_providers(), self._info)

    @property
    def info(self) -> ModelInfo:
        return self._info

    def infer(self, batch: FloatArray) -> tuple[FloatArray, FloatArray]:
        head, protos = self._session.run(None, {self._input_name: batch})
        return as_float32(head), as_float32(protos)

    def close(self) -> None:
        self._session = None


__all__ = ["OnnxRuntimeBackend", "ort_session"]
