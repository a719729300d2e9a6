"""Ultralytics' own postprocessing, assembled from its functions, as the parity reference.

``predict`` imports torchvision, which cannot be imported next to the CPU torch used in CI, so we
rebuild what ``SegmentationPredictor`` does with ``retina_masks=True`` (masks at frame resolution):
``LetterBox`` -> model -> ``non_max_suppression`` -> ``scale_boxes`` -> ``process_mask_native`` ->
drop empty masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from ultralytics.data.augment import LetterBox
from ultralytics.utils import nms, ops


@dataclass
class Reference:
    xyxy: np.ndarray
    class_id: np.ndarray
    score: np.ndarray
    masks: np.ndarray  # (N, H, W) bool


def letterbox(image: np.ndarray, imgsz: int, stride: int = 32) -> np.ndarray:
    """Ultralytics' preprocessing of one BGR frame into a (1, 3, H, W) float32 RGB tensor."""
    boxed = LetterBox(imgsz, auto=True, stride=stride)(image=image)
    chw = np.ascontiguousarray(boxed[..., ::-1].transpose(2, 0, 1))
    return (torch.from_numpy(chw)[None].float() / 255).numpy()


def postprocess(
    head: np.ndarray,
    protos: np.ndarray,
    input_hw: tuple[int, int],
    frame_hw: tuple[int, int],
    nc: int,
    conf: float,
    iou: float,
    max_det: int,
) -> Reference:
    """Reference results for ONE image: ``head`` (1, C, A) and ``protos`` (1, nm, mh, mw)."""
    pred = nms.non_max_suppression(
        torch.from_numpy(head.copy()), conf, iou, None, False, max_det=max_det, nc=nc
    )[0]
    if pred.shape[0] == 0:
        h, w = frame_hw
        return Reference(np.zeros((0, 4)), np.zeros(0, int), np.zeros(0), np.zeros((0, h, w), bool))
    pred[:, :4] = ops.scale_boxes(input_hw, pred[:, :4], frame_hw)
    masks = ops.process_mask_native(torch.from_numpy(protos[0].copy()), pred[:, 6:], pred[:, :4], frame_hw)
    keep = masks.amax((-2, -1)) > 0
    pred, masks = pred[keep], masks[keep]
    return Reference(
        pred[:, :4].numpy(),
        pred[:, 5].numpy().astype(int),
        pred[:, 4].numpy(),
        masks.numpy().astype(bool),
    )
