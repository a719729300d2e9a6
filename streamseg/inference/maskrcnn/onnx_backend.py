"""A torchvision Mask R-CNN exported to ONNX, on ONNX Runtime (CPU, or CUDA with onnxruntime-gpu).

Recognised from its outputs: boxes (N, 4), labels (N,) int64, scores (N,), masks (N, 1, h, w). Ours
(``maskrcnn.export``) stop before torchvision's paste, so masks are each box's 28x28 grid; an export of
the whole model pastes inside the graph and gives (N, 1, H, W). One picture per call: the model resizes
it itself (800 px short side by default), so frames of any size go in as they are.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from streamseg.errors import ModelError
from streamseg.inference.maskrcnn.coco import COCO_CATEGORIES
from streamseg.inference.runtimes.onnxruntime import ort_session
from streamseg.types import FloatArray, IntArray

logger = logging.getLogger(__name__)

BOXED_MASKS_KEY = "streamseg_masks"  # metadata: "box" when masks are per-box grids, not pasted


class MaskRCNNOnnxBackend:
    name = "onnxruntime"

    def __init__(self, model_path: Path, device: str = "cpu", threads: int = 0) -> None:
        self._session = ort_session(model_path, device, threads)
        check_maskrcnn_outputs(self._session, model_path)
        meta = self._session.get_modelmeta().custom_metadata_map
        self.boxed_masks = meta.get(BOXED_MASKS_KEY) == "box"
        self.names = _names(meta.get("names"))
        self._input = self._session.get_inputs()[0].name
        logger.debug("Mask R-CNN %s on %s (masks %s)", model_path, self._session.get_providers(),
                  "per box" if self.boxed_masks else "pasted")  # fmt: skip

    def infer(self, image_chw: FloatArray) -> tuple[FloatArray, IntArray, FloatArray, FloatArray]:
        """(3, H, W) RGB float in [0, 1] -> boxes, labels, scores, masks (probabilities)."""
        boxes, labels, scores, masks = self._session.run(None, {self._input: image_chw})
        return (
            np.asarray(boxes, np.float32).reshape(-1, 4),
            np.asarray(labels, np.int64).reshape(-1),
            np.asarray(scores, np.float32).reshape(-1),
            np.asarray(masks, np.float32),
        )

    def close(self) -> None:
        self._session = None


def check_maskrcnn_outputs(session: object, model_path: Path) -> None:
    """Refuse with one line an ONNX file whose outputs are not Mask R-CNN's."""
    outputs = session.get_outputs()  # type: ignore[attr-defined]
    found = [(len(o.shape), o.type) for o in outputs]
    wanted = [(2, "tensor(float)"), (1, "tensor(int64)"), (1, "tensor(float)"), (4, "tensor(float)")]
    inputs = session.get_inputs()  # type: ignore[attr-defined]
    if found != wanted or len(inputs) != 1 or len(inputs[0].shape) != 3:
        shown = ", ".join(f"{o.name} {list(o.shape)}" for o in outputs)
        raise ModelError(
            f"{model_path} has unexpected outputs for a Mask R-CNN ({shown}): expected a torchvision Mask "
            "R-CNN exported with one image in and boxes (N,4), labels (N,), scores (N,), masks (N,1,h,w) out"
        )


def is_maskrcnn_onnx(path: Path) -> bool:
    """Four outputs (YOLO -seg has two): the graph's declared outputs, read without the weights."""
    import onnx  # noqa: PLC0415

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # not ONNX at all: the runtime that opens it says so
        return False
    return len(model.graph.output) == 4


def _names(raw: str | None) -> tuple[str, ...]:
    if raw:
        try:
            names = json.loads(raw)
        except ValueError:
            names = None
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            return tuple(names)
    return COCO_CATEGORIES
