"""Matching our Mask R-CNN instances with a reference's, tolerant of floating point and nothing more.

Floating point differs between CPUs (AVX2 or AVX-512 kernels, thread counts, ONNX Runtime or eager
PyTorch), so the same network gives scores and box corners that differ in the last bits (scores by
~3e-5, corners by up to ~0.04 px, between ONNX Runtime and eager here). Two things follow, and only
these are tolerated:

* **Boxes under a pixel wide** (common with random weights: a third of them in bus.jpg) have an IoU
  that moves by a percent when a corner moves by a thousandth of a pixel, so boxes agree when their
  IoU is >= ``BOX_IOU_MIN`` *or* no coordinate is more than ``CORNER_TOL`` pixels from the other's.
  ``CORNER_TOL`` is a quarter pixel: several times the differences seen, yet a half-pixel shift (the
  classic pixel-centre bug) still fails.
* **Instances at an edge of the postprocessing** may be on one side only: a score within
  ``SCORE_TOL`` of the score threshold; a score within ``SCORE_TOL`` of the other side's lowest when
  the other side holds ``max_det`` (ranked out of the top-k there); a box whose IoU with a same-label
  box of the other side scored no lower is within ``NMS_IOU_TOL`` of the NMS threshold, plus what
  moving their corners by ``EDGE_NOISE`` px may change it (kept or suppressed by a hair); an NMS swap
  (two overlapping boxes of near-equal score, each kept on one side only); a box narrower than
  ``MIN_SIZE_EDGE`` (torchvision drops boxes under 0.01 px of its resized picture). Each is
  *excused*, counted and reported, and at most ``EXCUSED_MAX_FRACTION`` of either side's instances
  (rounded up: one in a small picture) may be, so a broken postprocess cannot hide there.

Everything else must match one to one: same label, score within ``SCORE_TOL``, boxes that agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tests.inference.yolo.test_parity import box_iou

BOX_IOU_MIN = 0.99
CORNER_TOL = 0.25  # pixels
SCORE_TOL = 1e-3
NMS_IOU_TOL = 1 - BOX_IOU_MIN  # an IoU is known no better than "the same box" is
EDGE_NOISE = 0.01  # pixels: what float may move a corner by (0.003 px seen on sub-pixel boxes)
MIN_SIZE_EDGE = 0.05  # pixels: 0.01 px in a picture the network resized up to 5x smaller
EXCUSED_MAX_FRACTION = 0.05


@dataclass(frozen=True)
class Detections:
    """Boxes (N, 4) xyxy in picture pixels, labels (N,), scores (N,), in the model's order."""

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def describe(self, i: int) -> str:
        b = self.boxes[i]
        return (
            f"label {int(self.labels[i])}, score {float(self.scores[i]):.5f}, box "
            f"[{b[0]:.3f}, {b[1]:.3f}, {b[2]:.3f}, {b[3]:.3f}] ({b[2] - b[0]:.3f} x {b[3] - b[1]:.3f})"
        )


@dataclass
class Matching:
    """``pairs`` (ours, theirs); instances on one side only that were excused, with why; problems."""

    pairs: list[tuple[int, int]] = field(default_factory=list)
    excused_ours: dict[int, str] = field(default_factory=dict)
    excused_theirs: dict[int, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def excused(self) -> int:
        return len(self.excused_ours) + len(self.excused_theirs)


def corner_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The largest difference of any coordinate of two xyxy boxes, in pixels."""
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def boxes_agree(a: np.ndarray, b: np.ndarray) -> bool:
    return box_iou(a, b) >= BOX_IOU_MIN or corner_distance(a, b) <= CORNER_TOL


def match_instances(
    ours: Detections, theirs: Detections, conf: float, max_det: int, nms_iou: float
) -> Matching:
    """Pair ``ours`` with ``theirs`` one to one; excuse or report what is left (see the module)."""
    result = Matching()
    if len(ours) > max_det:
        result.problems.append(f"{len(ours)} instances, more than max_det {max_det}")
    if len(ours) and float(ours.scores.min()) < conf:
        result.problems.append(f"a score {float(ours.scores.min()):.5f} under conf {conf}")
    candidates = sorted(
        (corner_distance(ours.boxes[i], theirs.boxes[j]), i, j)
        for i in range(len(ours))
        for j in range(len(theirs))
        if ours.labels[i] == theirs.labels[j]
        and abs(float(ours.scores[i]) - float(theirs.scores[j])) <= SCORE_TOL
        and boxes_agree(ours.boxes[i], theirs.boxes[j])
    )
    used_ours: set[int] = set()
    used_theirs: set[int] = set()
    for _, i, j in candidates:  # closest first: stacked near-identical slivers pair with their own
        if i not in used_ours and j not in used_theirs:
            result.pairs.append((i, j))
            used_ours.add(i)
            used_theirs.add(j)
    result.pairs.sort()
    alone_ours = [i for i in range(len(ours)) if i not in used_ours]
    alone_theirs = [j for j in range(len(theirs)) if j not in used_theirs]
    for side, alone, dets, other, other_alone, excused in (
        ("ours", alone_ours, ours, theirs, alone_theirs, result.excused_ours),
        ("theirs", alone_theirs, theirs, ours, alone_ours, result.excused_theirs),
    ):
        for i in alone:
            why = edge_reason(dets, i, other, other_alone, conf, max_det, nms_iou)
            if why is None:
                result.problems.append(f"{side} instance {i} ({dets.describe(i)}): {nearest(dets, i, other)}")
            else:
                excused[i] = why
    for side, dets, excused in (
        ("ours", ours, result.excused_ours),
        ("theirs", theirs, result.excused_theirs),
    ):
        allowed = math.ceil(EXCUSED_MAX_FRACTION * len(dets))
        if len(excused) > allowed:
            result.problems.append(
                f"{len(excused)} of {side} {len(dets)} instances excused as at an edge, more than the "
                f"{allowed} allowed: {excused}"
            )
    return result


def edge_reason(
    dets: Detections,
    i: int,
    other: Detections,
    other_alone: list[int],
    conf: float,
    max_det: int,
    nms_iou: float,
) -> str | None:
    """Why instance ``i`` of ``dets`` may be missing from ``other`` by floating point alone, or None."""
    score, box, label = float(dets.scores[i]), dets.boxes[i], dets.labels[i]
    if abs(score - conf) <= SCORE_TOL:
        return f"score {score:.5f} at conf {conf}"
    if len(other) >= max_det and score <= float(other.scores.min()) + SCORE_TOL:
        return f"score {score:.5f} at the other side's max_det cut {float(other.scores.min()):.5f}"
    side = min(box[2] - box[0], box[3] - box[1])
    if side < MIN_SIZE_EDGE:
        return f"side {side:.4f} px, at torchvision's minimum box size"
    same = np.flatnonzero(other.labels == label)
    if not len(same):
        return None
    boxes = np.asarray(other.boxes[same], np.float64)
    overlap = ious(box, boxes)
    at_threshold = np.abs(overlap - nms_iou) <= NMS_IOU_TOL + iou_spread(box, boxes, EDGE_NOISE)
    for k in np.flatnonzero(at_threshold & (other.scores[same] >= score - SCORE_TOL)):
        return f"IoU {overlap[k]:.4f} at the NMS threshold with instance {same[k]} of the other side"
    for k in np.flatnonzero((overlap > nms_iou) & (np.abs(other.scores[same] - score) <= SCORE_TOL)):
        if same[k] in other_alone:
            return f"NMS swap with instance {same[k]} of the other side (IoU {overlap[k]:.3f})"
    return None


def ious(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The IoU of one xyxy box with each of ``boxes`` (M, 4)."""
    box = np.asarray(box, np.float64)
    iw = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = iw * ih
    union = (
        (box[2] - box[0]) * (box[3] - box[1])
        + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        - inter
    )
    iou: np.ndarray = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return iou


def iou_spread(box: np.ndarray, boxes: np.ndarray, eps: float) -> np.ndarray:
    """How far each IoU of ``box`` with ``boxes`` may move when every coordinate of either moves by
    ``eps`` pixels (to first order): a lot for boxes under a pixel wide, little for others."""
    box = np.asarray(box, np.float64)
    base = ious(box, boxes)
    spread = np.zeros_like(base)
    for k in range(4):
        step = np.zeros(4)
        step[k] = eps
        for sign in (1, -1):
            spread += np.abs(ious(box + sign * step, boxes) - base) / 2  # |dIoU| ~ (|up| + |down|) / 2
            spread += np.abs(ious(box, boxes + sign * step) - base) / 2
    return spread


def nearest(dets: Detections, i: int, other: Detections) -> str:
    same = [j for j in range(len(other)) if other.labels[j] == dets.labels[i]]
    if not same:
        return "no match, and no instance of that label on the other side"
    j = min(same, key=lambda j: corner_distance(dets.boxes[i], other.boxes[j]))
    iou, apart = box_iou(dets.boxes[i], other.boxes[j]), corner_distance(dets.boxes[i], other.boxes[j])
    return (
        f"no match; the nearest of that label on the other side is {j} ({other.describe(j)}; "
        f"box IoU {iou:.4f}, corners {apart:.4f} px apart)"
    )
