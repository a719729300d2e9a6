"""``Config`` -> the ``Segmenter`` the inference thread drives: which model family, which runtime, and SAM
after it when ``sam.model`` is set. A factory above everything it builds, so nothing imports it back."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from streamseg.config import Config, ModelConfig, RenderConfig
from streamseg.config.confidence import network_conf, shown_conf
from streamseg.errors import ConfigError
from streamseg.inference.input_size import (
    DEFAULT_IMGSZ,
    InputSize,
    fixed_input_size,
    input_size,
    known_input_size,
)
from streamseg.inference.runtimes.base import InferenceBackend
from streamseg.inference.runtimes.select import open_backend
from streamseg.inference.sam.board import PromptBoard
from streamseg.inference.segmenter import Segmenter
from streamseg.inference.yolo.engine import SegmentationEngine
from streamseg.inference.yolo.postprocess import Thresholds
from streamseg.types import StageRecorder

if TYPE_CHECKING:
    from streamseg.gpu.overlay import TrackHook

logger = logging.getLogger(__name__)


def open_segmenter(
    cfg: Config,
    record_stage: StageRecorder,
    board: PromptBoard | None = None,
    backend: InferenceBackend | None = None,
    *,
    draw: bool = False,
    host_masks: Callable[[], bool] = lambda: True,
    tracks: TrackHook | None = None,
) -> Segmenter:
    """Load SAM first (a wrong checkpoint should not wait for an export), then the detector.

    ``backend``: an open YOLO runtime to use instead of loading ``cfg.model`` (its owner closes it).
    ``draw``: frames are annotated (on the device, where the model has a device path); ``host_masks``
    and ``tracks`` (colouring by track there): see ``SegmentationEngine``."""
    overlay = cfg.render if draw and not cfg.sam.model else None  # SAM's masks are drawn on the host
    model = dataclasses.replace(cfg.model, conf=network_conf(cfg))  # 0.1 with tracking, unless given
    if model.conf != shown_conf(cfg.model):
        logger.info(
            "conf unset: trackers get detections down to %g (as Ultralytics' track); %g shown untracked",
            model.conf,
            shown_conf(cfg.model),
        )
    predictor = None
    if cfg.sam.model:
        from streamseg.inference.sam import SamPredictor  # noqa: PLC0415 - imports torch

        flag = "--refine" if cfg.sam.refine else "--sam"
        predictor = SamPredictor.from_checkpoint(
            cfg.sam.model, Path(cfg.model.engines_dir), cfg.model.device, flag
        )
    engine = (
        SegmentationEngine(
            backend,
            _lent_size(model, backend),
            _thresholds(model),
            record_stage,
            owns_backend=False,
            overlay=overlay,
            host_masks=host_masks,
            tracks=tracks,
            cuda_graphs=model.cuda_graphs,
        )
        if backend is not None
        else open_detector(model, record_stage, overlay, host_masks, tracks)
    )
    if predictor is None:
        return engine
    from streamseg.inference.sam.stage import SamStage  # noqa: PLC0415

    return SamStage(engine, predictor, refine=cfg.sam.refine, board=board, record_stage=record_stage)


def _thresholds(model: ModelConfig) -> Thresholds:
    return Thresholds(shown_conf(model), model.iou, model.max_det)


def _lent_size(model: ModelConfig, backend: InferenceBackend) -> int:
    """A lent backend's input: the size given, its fixed input, else ``model.path``'s when that file is
    here (nothing is downloaded for it), else 640."""
    size = known_input_size(model) or InputSize(DEFAULT_IMGSZ, "the default")
    return fixed_input_size(size, backend.info.fixed_input_hw, model.imgsz is not None).value


def open_detector(
    model: ModelConfig,
    record_stage: StageRecorder,
    overlay: RenderConfig | None = None,
    host_masks: Callable[[], bool] = lambda: True,
    tracks: TrackHook | None = None,
) -> Segmenter:
    thresholds = _thresholds(model)
    maskrcnn = _maskrcnn_file(model)
    if maskrcnn is not None:
        from streamseg.inference.maskrcnn.engine import MaskRCNNEngine  # noqa: PLC0415
        from streamseg.inference.maskrcnn.onnx_backend import MaskRCNNOnnxBackend  # noqa: PLC0415

        if model.backend not in ("auto", "onnxruntime"):
            raise ConfigError(
                "Mask R-CNN runs on ONNX Runtime (CPU, or CUDA with onnxruntime-gpu), "
                f"not --backend {model.backend}"
            )
        return MaskRCNNEngine(
            MaskRCNNOnnxBackend(maskrcnn, model.device, model.threads), thresholds, record_stage
        )
    given = model.imgsz is not None
    size = input_size(model)  # the checkpoint's, as Ultralytics, unless given (before a plan is built)
    backend = open_backend(dataclasses.replace(model, imgsz=size.value))
    size = fixed_input_size(size, backend.info.fixed_input_hw, given)
    logger.info("model input: %s, conf %g", size, thresholds.conf)
    try:
        return SegmentationEngine(
            backend,
            size.value,
            thresholds,
            record_stage,
            overlay=overlay,
            host_masks=host_masks,
            tracks=tracks,
            cuda_graphs=model.cuda_graphs,
        )
    except BaseException:
        backend.close()
        raise


def _maskrcnn_file(model: ModelConfig) -> Path | None:
    """The ONNX file when ``model`` is a Mask R-CNN (``torchvision:NAME``, or an .onnx with four outputs)."""
    from streamseg.inference.maskrcnn.export import is_torchvision_model, resolve_torchvision_model  # noqa: PLC0415

    if is_torchvision_model(model.path):
        return resolve_torchvision_model(model.path, Path(model.engines_dir))
    path = Path(model.path).expanduser()
    if path.suffix.lower() == ".onnx" and path.is_file():
        from streamseg.inference.maskrcnn.onnx_backend import is_maskrcnn_onnx  # noqa: PLC0415

        if is_maskrcnn_onnx(path):
            return path
    return None
