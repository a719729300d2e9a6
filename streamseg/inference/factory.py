"""``Config`` -> the ``Segmenter`` the inference thread drives: which model family, which runtime, and SAM
after it when ``sam.model`` is set. A factory above everything it builds, so nothing imports it back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from streamseg.config import Config, ModelConfig, RenderConfig
from streamseg.errors import ConfigError
from streamseg.inference.runtimes.base import InferenceBackend
from streamseg.inference.runtimes.select import open_backend
from streamseg.inference.sam.board import PromptBoard
from streamseg.inference.segmenter import Segmenter
from streamseg.inference.yolo.engine import SegmentationEngine
from streamseg.inference.yolo.postprocess import Thresholds
from streamseg.types import StageRecorder

if TYPE_CHECKING:
    from streamseg.gpu.overlay import TrackHook


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
            cfg.model.imgsz,
            _thresholds(cfg.model),
            record_stage,
            owns_backend=False,
            overlay=overlay,
            host_masks=host_masks,
            tracks=tracks,
            cuda_graphs=cfg.model.cuda_graphs,
        )
        if backend is not None
        else open_detector(cfg.model, record_stage, overlay, host_masks, tracks)
    )
    if predictor is None:
        return engine
    from streamseg.inference.sam.stage import SamStage  # noqa: PLC0415

    return SamStage(engine, predictor, refine=cfg.sam.refine, board=board, record_stage=record_stage)


def _thresholds(model: ModelConfig) -> Thresholds:
    return Thresholds(model.conf, model.iou, model.max_det)


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
    backend = open_backend(model)
    try:
        return SegmentationEngine(
            backend,
            model.imgsz,
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
