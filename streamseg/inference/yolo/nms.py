"""Class-aware non-maximum suppression in NumPy (no torch/torchvision at run time).

Same semantics as torchvision's ``nms`` that Ultralytics uses: boxes sorted by score, a box is
suppressed when its IoU with a kept box of the same class is strictly greater than the threshold.
Classes are separated by offsetting boxes by ``class_id * MAX_WH``.
"""

from __future__ import annotations

import numpy as np

from streamseg.types import FloatArray, IntArray

MAX_WH = 7680.0  # larger than any input side, so offset boxes of different classes never overlap


def nms(boxes: FloatArray, scores: FloatArray, iou_threshold: float) -> IntArray:
    """Indices of kept boxes, highest score first."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        if rest.size == 0:
            break
        w = np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest])
        h = np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])
        inter = np.clip(w, 0, None) * np.clip(h, 0, None)
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes: FloatArray, scores: FloatArray, class_id: IntArray, iou_threshold: float) -> IntArray:
    """NMS within each class only."""
    offset = class_id.astype(boxes.dtype)[:, None] * np.float32(MAX_WH)
    return nms(boxes + offset, scores, iou_threshold)
