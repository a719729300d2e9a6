"""Raw YOLOv8-seg outputs -> boxes, classes, scores and box-cropped masks in frame pixels.

Order of work keeps the expensive part small: confidence filter over anchors, class-aware NMS,
``max_det``, and only then mask decoding for the survivors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamseg.inference.letterbox import Letterbox
from streamseg.inference.yolo.masks import MaskDecoder
from streamseg.inference.yolo.nms import batched_nms
from streamseg.types import FloatArray, InstanceMasks, IntArray

MAX_NMS_CANDIDATES = 30000  # as Ultralytics: more than this and only the best-scoring go to NMS


@dataclass(frozen=True, slots=True)
class Thresholds:
    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300


@dataclass(frozen=True, slots=True)
class Detections:
    """One frame's instances, boxes in frame pixels; ``track_id`` where the device path tracked them
    already (to colour them by track)."""

    xyxy: FloatArray
    class_id: IntArray
    score: FloatArray
    masks: InstanceMasks
    track_id: IntArray | None = None


def postprocess(
    pred: FloatArray,
    protos: FloatArray,
    letterbox: Letterbox,
    decoder: MaskDecoder,
    num_classes: int,
    thresholds: Thresholds,
) -> Detections:
    """``pred`` is one image's (4 + nc + nm, anchors) head output; ``protos`` its (nm, mh, mw) prototypes."""
    kept = kept_candidates(pred, num_classes, thresholds)
    if kept is None:
        return empty_detections(letterbox.frame_hw)
    anchors, xyxy, score, class_id = kept
    xyxy = letterbox.boxes_to_frame(xyxy)
    coeffs = np.ascontiguousarray(pred[4 + num_classes :, anchors].T, dtype=np.float32)
    masks = decoder.decode(protos, coeffs, xyxy)
    nonempty = np.array([bool(c.any()) for c in masks.crops], dtype=bool)
    if not nonempty.all():  # Ultralytics drops instances whose mask is empty; so do we
        masks = InstanceMasks(
            tuple(c for c, k in zip(masks.crops, nonempty, strict=True) if k),
            masks.origins[nonempty],
            masks.frame_hw,
        )
        xyxy, score, class_id = xyxy[nonempty], score[nonempty], class_id[nonempty]
    return Detections(xyxy.astype(np.float32), class_id, score, masks)


def kept_candidates(
    pred: FloatArray, num_classes: int, thresholds: Thresholds
) -> tuple[IntArray, FloatArray, FloatArray, IntArray] | None:
    """Confidence filter, class-aware NMS and ``max_det`` on one image's head output.

    Returns the kept anchors, their boxes (network-input pixels), scores and classes, best first;
    ``None`` when nothing passes the threshold.
    """
    class_scores = pred[4 : 4 + num_classes]
    best = class_scores.max(axis=0)
    candidates = np.flatnonzero(best > thresholds.conf)
    if candidates.size == 0:
        return None
    if candidates.size > MAX_NMS_CANDIDATES:
        top = np.argsort(-best[candidates], kind="stable")[:MAX_NMS_CANDIDATES]
        candidates = candidates[top]
    score = best[candidates].astype(np.float32)
    class_id = class_scores[:, candidates].argmax(axis=0).astype(np.int64)
    xyxy = _xywh_to_xyxy(pred[:4, candidates].T)
    keep = batched_nms(xyxy, score, class_id, thresholds.iou)[: thresholds.max_det]
    return candidates[keep], xyxy[keep], score[keep], class_id[keep]


def _xywh_to_xyxy(xywh: FloatArray) -> FloatArray:
    out = np.empty_like(xywh, dtype=np.float32)
    half_w, half_h = xywh[:, 2] / 2, xywh[:, 3] / 2
    out[:, 0] = xywh[:, 0] - half_w
    out[:, 1] = xywh[:, 1] - half_h
    out[:, 2] = xywh[:, 0] + half_w
    out[:, 3] = xywh[:, 1] + half_h
    return out


def empty_detections(frame_hw: tuple[int, int]) -> Detections:
    """No instances in a frame of this size."""
    return Detections(
        np.zeros((0, 4), np.float32),
        np.zeros(0, np.int64),
        np.zeros(0, np.float32),
        InstanceMasks.empty(frame_hw),
    )
