"""Candidate selection and exact greedy NMS for a whole batch on the device, in a fixed number of steps.

Why not a loop per frame: each frame's NMS used to synchronise with the host several times (the
candidate count, and a convergence test per suppression step). Here every frame of the batch is
padded to the same ``k`` candidates, and greedy suppression runs as a fixed-point iteration over
the (B, k, k) suppression matrices (``keep_i = not any(keep_j and j suppresses i)`` for higher-scored
``j``): a fixed number of batched matrix products, no host round trip. The iteration reaches the
greedy answer once it has run longer than the longest suppression chain (a handful of steps in
practice); whether it got there is part of the batch's single download, and the rare batch that
did not simply iterates on (``continue_nms``). Results equal ``nms.batched_nms`` exactly: the same
stable score order, class offsets and float32 IoU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from streamseg.inference.yolo.nms import MAX_WH

if TYPE_CHECKING:
    import torch

NMS_STEPS = 12  # fixed-point steps run before the batch's one sync
MATRIX_ELEMENTS = 1 << 24  # (frames x k x k) per suppression-matrix chunk: 64 MB of float32


@dataclass(frozen=True, slots=True)
class Candidates:
    """Per frame the ``k`` best anchors above the threshold, best first (ties: lower anchor first)."""

    anchors: torch.Tensor  # (B, k) int64
    scores: torch.Tensor  # (B, k) float32; -inf where there is no candidate
    valid: torch.Tensor  # (B, k) bool
    class_id: torch.Tensor  # (B, k) int64
    xyxy: torch.Tensor  # (B, k, 4) float32, network-input pixels
    count: torch.Tensor  # (B,) int64: anchors above the threshold (may exceed k)


def select_candidates(pred: torch.Tensor, num_classes: int, conf: float, k: int) -> Candidates:
    """``pred`` (B, 4 + nc + nm, A) float32 -> the top ``k`` candidates of every frame."""
    import torch  # noqa: PLC0415

    class_scores = pred[:, 4 : 4 + num_classes]
    best, class_id = class_scores.max(dim=1)  # (B, A); first maximum on ties, as NumPy's argmax
    above = best > conf
    masked = torch.where(above, best, torch.full_like(best, float("-inf")))
    k = min(k, int(pred.shape[2]))
    scores, order = torch.sort(masked, dim=1, descending=True, stable=True)
    scores, anchors = scores[:, :k], order[:, :k]
    xywh = pred[:, :4].gather(2, anchors[:, None, :].expand(-1, 4, -1)).transpose(1, 2)
    half_w, half_h = xywh[..., 2] / 2, xywh[..., 3] / 2  # as postprocess._xywh_to_xyxy
    xyxy = torch.stack(
        (xywh[..., 0] - half_w, xywh[..., 1] - half_h, xywh[..., 0] + half_w, xywh[..., 1] + half_h), dim=-1
    )
    return Candidates(
        anchors=anchors,
        scores=scores,
        valid=torch.isfinite(scores),
        class_id=class_id.gather(1, anchors),
        xyxy=xyxy,
        count=above.sum(dim=1),
    )


class SuppressionState:
    """The suppression matrices of a batch and the iteration's current ``keep`` (on the device)."""

    def __init__(self, candidates: Candidates, iou: float) -> None:
        import torch  # noqa: PLC0415

        self.valid = candidates.valid
        batch, k = candidates.valid.shape
        chunk = max(1, MATRIX_ELEMENTS // max(k * k, 1))
        self._hits = [
            _suppression(candidates, start, min(start + chunk, batch), iou)
            for start in range(0, batch, chunk)
        ]
        self.keep = candidates.valid.clone()
        self._starts = list(range(0, batch, chunk))
        self._torch = torch

    def step(self, n: int) -> torch.Tensor:
        """Run ``n`` more steps; returns a (B,) bool: converged (one more step changes nothing)."""
        keep = self.keep
        for _ in range(n):
            keep = self._next(keep)
        self.keep = keep
        return (self._next(keep) == keep).all(dim=1)

    def _next(self, keep: torch.Tensor) -> torch.Tensor:
        parts = []
        for start, hits in zip(self._starts, self._hits, strict=True):
            rows = keep[start : start + hits.shape[0]].to(hits.dtype)[:, None, :]
            parts.append((rows @ hits)[:, 0] == 0)  # nobody kept suppresses it
        suppressed_by_none = parts[0] if len(parts) == 1 else self._torch.cat(parts)
        return self.valid & suppressed_by_none


def _suppression(candidates: Candidates, start: int, stop: int, iou: float) -> torch.Tensor:
    """(b, k, k) float32: [j, i] = 1 when the higher-scored j removes i if j is kept."""
    import torch  # noqa: PLC0415

    boxes = candidates.xyxy[start:stop]
    classes = candidates.class_id[start:stop]
    valid = candidates.valid[start:stop]
    offset = boxes + classes.to(boxes.dtype)[..., None] * float(np.float32(MAX_WH))
    x1, y1, x2, y2 = offset.unbind(-1)
    areas = (x2 - x1) * (y2 - y1)
    w = torch.minimum(x2[:, :, None], x2[:, None, :]) - torch.maximum(x1[:, :, None], x1[:, None, :])
    h = torch.minimum(y2[:, :, None], y2[:, None, :]) - torch.maximum(y1[:, :, None], y1[:, None, :])
    inter = w.clamp_(min=0) * h.clamp_(min=0)
    del w, h
    overlap = inter / (areas[:, :, None] + areas[:, None, :] - inter)
    del inter
    # NaN IoU (two empty boxes) suppresses, as in the NumPy path
    suppresses = ~(overlap <= iou)
    del overlap
    k = boxes.shape[1]
    upper = torch.ones((k, k), dtype=torch.bool, device=boxes.device).triu_(diagonal=1)
    suppresses &= upper & valid[:, :, None] & valid[:, None, :]
    return suppresses.to(torch.float32)


@dataclass(frozen=True, slots=True)
class KeptInstances:
    """Per frame the kept candidates, best first, padded to ``d`` (max_det) columns."""

    xyxy: torch.Tensor  # (B, d, 4) float32 network-input pixels
    score: torch.Tensor  # (B, d) float32
    class_id: torch.Tensor  # (B, d) int64
    anchor: torch.Tensor  # (B, d) int64
    n: torch.Tensor  # (B,) int64


def compact(candidates: Candidates, keep: torch.Tensor, max_det: int) -> KeptInstances:
    """Move every frame's kept candidates (at most ``max_det``) to the front, in score order."""
    import torch  # noqa: PLC0415

    batch, k = keep.shape
    d = min(max_det, k)
    rank = keep.to(torch.int64).cumsum(dim=1)
    final = keep & (rank <= d)
    dest = torch.where(final, rank - 1, torch.full_like(rank, d))  # d: a spill column, cut off below

    def gather(values: torch.Tensor, fill: float) -> torch.Tensor:
        shape = (batch, d + 1, *values.shape[2:])
        out = torch.full(shape, fill, dtype=values.dtype, device=values.device)
        index = dest.view(batch, k, *([1] * (values.dim() - 2))).expand_as(values)
        return out.scatter_(1, index, values)[:, :d]

    return KeptInstances(
        xyxy=gather(candidates.xyxy, 0.0),
        score=gather(candidates.scores.nan_to_num(neginf=0.0), 0.0),
        class_id=gather(candidates.class_id, 0),
        anchor=gather(candidates.anchors, 0),
        n=final.sum(dim=1),
    )
