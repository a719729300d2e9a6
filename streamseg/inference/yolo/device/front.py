"""The first graph body: a batch's frames in, the small table of kept instances out.

Everything between the frames on the device and the one download the host waits for is here, as
plain functions of tensors with shapes fixed by the batch bucket, the frame size and the candidate
slots: converting NV12 to BGR (gathered from the surface ring), the letterbox, the network, candidate
selection, NMS in a fixed number of steps and the table packing. On CUDA ``gpu/graph_cache``
captures it once per shape and replays it; elsewhere it simply runs, op for op the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from streamseg.gpu.colour import yuv_to_bgr
from streamseg.inference.yolo.device import nms
from streamseg.inference.yolo.device.letterbox import DeviceLetterbox
from streamseg.inference.yolo.device.nms import (
    Candidates,
    KeptInstances,
    SuppressionState,
    compact,
    select_candidates,
)

if TYPE_CHECKING:
    import torch

Network = Callable[["torch.Tensor"], tuple["torch.Tensor", "torch.Tensor"]]
TABLE_COLUMNS = 7  # x1, y1, x2, y2, score, class, anchor (per kept instance)
TABLE_META = 3  # kept, candidates above the threshold, converged (per frame)


@dataclass(frozen=True, slots=True)
class DetectSpec:
    """What the body needs besides tensors: fixed for a captured graph."""

    num_classes: int
    conf: float
    iou: float
    max_det: int
    candidates: int  # k: candidate slots per frame

    @property
    def kept(self) -> int:
        """d: table columns per frame."""
        return min(self.max_det, self.candidates)


@dataclass(frozen=True, slots=True)
class Detected:
    """The body's outputs; on CUDA static tensors that the next replay overwrites."""

    bgr: torch.Tensor  # (B, H, W, 3) uint8: the frames, which the second body draws into
    head: torch.Tensor  # (B, 4 + nc + nm, A) as the network gave it (FP16 on a GPU)
    protos: torch.Tensor  # (B, nm, mh, mw)
    pred: torch.Tensor  # head in float32
    candidates: Candidates
    state: SuppressionState  # for the rare batch whose NMS needs more steps (run eagerly after)
    table: torch.Tensor  # (B, d * 7 + 3) float32: what the host downloads


def frames_from_ring(ring_y: torch.Tensor, ring_uv: torch.Tensor, meta: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) BGR of the ring slots ``meta[:, 0]``, with the colour multipliers ``meta[:, 1:7]``."""
    import torch  # noqa: PLC0415

    slots = meta[:, 0]
    coefficients = meta[:, 1:7].to(torch.int32)[:, :, None, None]
    return yuv_to_bgr(ring_y.index_select(0, slots), ring_uv.index_select(0, slots), coefficients)


def detect_body(
    bgr: torch.Tensor, letterbox: DeviceLetterbox, network: Network, spec: DetectSpec, dtype: torch.dtype
) -> Detected:
    """Letterbox ``bgr`` into a fresh network input of ``dtype``, run the network, detect."""
    import torch  # noqa: PLC0415

    h, w = letterbox.letterbox.input_hw
    net_input = torch.empty((bgr.shape[0], 3, h, w), dtype=dtype, device=bgr.device)
    letterbox.apply(bgr, net_input)
    head, protos = network(net_input)
    return detect(bgr, head, protos, spec)


def detect(bgr: torch.Tensor, head: torch.Tensor, protos: torch.Tensor, spec: DetectSpec) -> Detected:
    """Candidates, NMS (fixed steps) and the packed table of a batch's network outputs."""
    pred = head.float()
    candidates = select_candidates(pred, spec.num_classes, spec.conf, spec.candidates)
    state = SuppressionState(candidates, spec.iou)
    converged = state.step(nms.NMS_STEPS)
    kept = compact(candidates, state.keep, spec.max_det)
    return Detected(bgr, head, protos, pred, candidates, state, pack_table(kept, candidates.count, converged))


def pack_table(kept: KeptInstances, count: torch.Tensor, converged: torch.Tensor) -> torch.Tensor:
    """(B, d * 7 + 3) float32: per frame the kept rows, then kept / above threshold / converged."""
    import torch  # noqa: PLC0415

    b, d = kept.score.shape
    rows = torch.cat(
        [kept.xyxy, kept.score[..., None], kept.class_id[..., None].float(), kept.anchor[..., None].float()],
        dim=-1,
    ).reshape(b, d * TABLE_COLUMNS)
    meta = torch.stack([kept.n.float(), count.float(), converged.float()], dim=1)
    return torch.cat([rows, meta], dim=1)
