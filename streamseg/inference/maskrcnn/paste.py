"""Mask R-CNN's 28x28 mask of each box, pasted at box resolution only (never a full frame per instance).

Exactly torchvision's ``paste_masks_in_image`` (pad the mask by one cell, grow the box to match, truncate
it to integers, resize bilinearly to the box, threshold at 0.5), except that the result is kept as the
box-sized crop it is. OpenCV's float bilinear resize samples as PyTorch's ``align_corners=False`` does.
"""

from __future__ import annotations

import cv2
import numpy as np

from streamseg.types import FloatArray, InstanceMasks

MASK_THRESHOLD = 0.5
PADDING = 1


def paste_masks(masks: FloatArray, boxes: FloatArray, frame_hw: tuple[int, int]) -> InstanceMasks:
    """``masks`` (N, 1, M, M) probabilities, ``boxes`` (N, 4) frame pixels -> crops inside the frame."""
    m = masks.shape[-1]
    scale = (m + 2 * PADDING) / m
    crops, origins = [], []
    for mask, box in zip(masks.reshape(-1, m, m), boxes, strict=True):
        x0, y0, x1, y1 = _expanded_box(box, scale)
        cx0, cy0, cx1, cy1 = _inside(x0, y0, x1, y1, frame_hw)
        if cx1 <= cx0 or cy1 <= cy0:
            crops.append(np.zeros((0, 0), bool))
            origins.append((0, 0))
            continue
        bw, bh = max(x1 - x0 + 1, 1), max(y1 - y0 + 1, 1)
        resized = cv2.resize(
            np.pad(mask.astype(np.float32), PADDING), (bw, bh), interpolation=cv2.INTER_LINEAR
        )
        crops.append(resized[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] > MASK_THRESHOLD)
        origins.append((cx0, cy0))
    return InstanceMasks(tuple(crops), np.array(origins, np.int32).reshape(-1, 2), frame_hw)


def crop_full_masks(masks: FloatArray, boxes: FloatArray, frame_hw: tuple[int, int]) -> InstanceMasks:
    """For an ONNX file that pastes inside the graph (N, 1, H, W): keep each box's region (grown as the
    paste grows it), so what travels on is box-sized like everything else."""
    h, w = frame_hw
    scale = (28 + 2 * PADDING) / 28
    crops, origins = [], []
    for mask, box in zip(masks.reshape(len(boxes), h, w), boxes, strict=True):
        cx0, cy0, cx1, cy1 = _inside(*_expanded_box(box, scale), frame_hw)
        if cx1 <= cx0 or cy1 <= cy0:
            crops.append(np.zeros((0, 0), bool))
            origins.append((0, 0))
            continue
        crops.append(mask[cy0:cy1, cx0:cx1] > MASK_THRESHOLD)
        origins.append((cx0, cy0))
    return InstanceMasks(tuple(crops), np.array(origins, np.int32).reshape(-1, 2), frame_hw)


def _inside(x0: int, y0: int, x1: int, y1: int, frame_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """The part of the inclusive box (x0, y0)-(x1, y1) inside the frame, end-exclusive (may be empty)."""
    h, w = frame_hw
    return max(x0, 0), max(y0, 0), min(x1 + 1, w), min(y1 + 1, h)


def _expanded_box(box: FloatArray, scale: float) -> tuple[int, int, int, int]:
    """torchvision's ``expand_boxes`` then ``.to(int64)`` (truncation toward zero)."""
    x_half = float(box[2] - box[0]) * 0.5 * scale
    y_half = float(box[3] - box[1]) * 0.5 * scale
    xc, yc = float(box[2] + box[0]) * 0.5, float(box[3] + box[1]) * 0.5
    return int(xc - x_half), int(yc - y_half), int(xc + x_half), int(yc + y_half)
