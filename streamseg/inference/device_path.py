"""Pre- and postprocessing as torch ops on the backend's device, shared by the PyTorch and TensorRT backends.

Why: on a GPU the NumPy path moves a float32 network input (3 MB per 640x384 frame) up and full
prototype stacks down every batch and runs NMS and mask decoding on the CPU. Here only the uint8 frame
goes up (from a pinned buffer), and only boxes, scores, classes and box-sized masks come back.

The ops are device-agnostic, so CPU CI checks them against the NumPy path for equality:

* letterbox: cv2's ``INTER_LINEAR`` uint8 resize reproduced in integer arithmetic (11-bit weights
  computed in float32, horizontal pass, ``>> 4``, high-half multiply, ``+ 2 >> 2``: what OpenCV's
  vectorised path computes), so the network input is bit-identical to ``Letterbox.apply``;
* NMS: the same candidate filter, stable score order, class offsets and float32 IoU as ``nms.py``;
  greedy suppression runs as a fixed-point iteration over the suppression matrix (no per-box loop);
* masks: the mixture is one (N x nm) @ (nm x mh*mw) product at prototype resolution; sampling uses
  ``MaskDecoder``'s tap tables and reads only the cells under each box, and upsampling covers only
  each box's pixels (instances padded to the largest box of a chunk, then packed).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from streamseg.inference.letterbox import PAD_VALUE, Letterbox
from streamseg.inference.masks import MaskDecoder
from streamseg.inference.nms import MAX_WH, batched_nms
from streamseg.inference.postprocess import MAX_NMS_CANDIDATES, Detections, Thresholds, empty_detections
from streamseg.types import BoolArray, InstanceMasks, UInt8Array

if TYPE_CHECKING:
    import torch

MATRIX_NMS_MAX = 4096  # more candidates than this: NMS on the host (a K x K matrix would not fit)
MASK_CHUNK_ELEMENTS = 1 << 24
_INV_255 = np.float32(1.0 / 255.0)  # instances x box pixels decoded at once (64 MB of float32)


class DeviceBackend(Protocol):
    """What a backend offers the device path: a device, a stream, and a static input buffer to fill."""

    @property
    def device(self) -> torch.device: ...

    @property
    def stream(self) -> Any:  # torch.cuda.Stream on CUDA, None on CPU
        ...

    def input_buffer(self, batch: int, input_hw: tuple[int, int]) -> torch.Tensor:
        """A (batch, 3, h, w) view the caller fills; valid until the next ``input_buffer`` call."""

    def run_input(self, batch: int, input_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the network on the filled buffer: (N, 4 + nc + nm, A) and (N, nm, mh, mw) on the device."""


def _cv2_linear_taps(n_out: int, n_in: int, horizontal: bool) -> tuple[np.ndarray[Any, Any], ...]:
    """OpenCV's INTER_LINEAR source indices and 11-bit fixed-point weights along one axis.

    Outside the source, cv2 zeroes the weight horizontally but only clamps the row index vertically
    (both taps then read the edge row, each with its own rounded weight): we do the same.
    """
    scale = n_in / n_out
    f = ((np.arange(n_out, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    s = np.floor(f).astype(np.int64)
    f = (f - s.astype(np.float32)).astype(np.float32)
    if horizontal:
        low = s < 0
        f[low], s[low] = 0, 0
        high = s >= n_in - 1
        f[high], s[high] = 0, n_in - 1
    w0 = np.round((np.float32(1) - f) * np.float32(2048)).astype(np.int32)
    return np.clip(s, 0, n_in - 1), np.clip(s + 1, 0, n_in - 1), w0, (2048 - w0).astype(np.int32)


class DeviceLetterbox:
    """``Letterbox.apply`` + ``to_tensor`` for one frame size, on the device, bit-identical to cv2."""

    def __init__(self, letterbox: Letterbox, device: torch.device) -> None:
        import torch  # noqa: PLC0415

        self.letterbox = letterbox
        h0, w0 = letterbox.frame_hw
        nw, nh = letterbox.resized_wh
        self._resize = (nw, nh) != (w0, h0)
        x0, x1, a0, a1 = _cv2_linear_taps(nw, w0, horizontal=True)
        y0, y1, b0, b1 = _cv2_linear_taps(nh, h0, horizontal=False)

        def t(a: np.ndarray[Any, Any], dtype: torch.dtype = torch.int64) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).to(device=device, dtype=dtype)

        self._x = (t(x0), t(x1), t(a0, torch.int32)[None, :, None], t(a1, torch.int32)[None, :, None])
        self._y = (t(y0), t(y1), t(b0, torch.int32)[:, None, None], t(b1, torch.int32)[:, None, None])
        self._rgb = t(np.array([2, 1, 0]))

    def resize(self, image: torch.Tensor) -> torch.Tensor:
        """(h0, w0, 3) uint8 -> (nh, nw, 3) uint8, as ``cv2.resize(..., INTER_LINEAR)``."""
        if not self._resize:
            return image
        import torch  # noqa: PLC0415

        x0, x1, a0, a1 = self._x
        y0, y1, b0, b1 = self._y
        src = image.to(torch.int32)
        rows = src[:, x0] * a0 + src[:, x1] * a1  # horizontal pass, exact integers
        top, bottom = rows[y0] >> 4, rows[y1] >> 4
        mixed = ((top * b0) >> 16) + ((bottom * b1) >> 16)
        return ((mixed + 2) >> 2).clamp_(0, 255).to(torch.uint8)

    def apply(self, image: torch.Tensor, out: torch.Tensor) -> None:
        """Letterbox a (h0, w0, 3) uint8 BGR frame into ``out`` (3, h, w): RGB, scaled to [0, 1]."""
        lb = self.letterbox
        resized = self.resize(image)
        nw, nh = lb.resized_wh
        if lb.top or lb.bottom or lb.left or lb.right:  # same rounding as to_tensor: u8 * f32(1/255)
            out.fill_(float(np.float32(PAD_VALUE) * _INV_255))
        chw = resized.index_select(2, self._rgb).permute(2, 0, 1)
        region = out[:, lb.top : lb.top + nh, lb.left : lb.left + nw]
        region.copy_(chw.float() * float(_INV_255))


class DeviceMaskDecoder:
    """``MaskDecoder.decode`` on the device: masks cropped to their boxes, returned as host crops."""

    def __init__(self, decoder: MaskDecoder, device: torch.device) -> None:
        import torch  # noqa: PLC0415

        self.frame_hw = decoder.frame_hw
        self.proto_hw = decoder.proto_hw
        (ri, rw), (ci, cw) = decoder.taps
        self._rows = (torch.from_numpy(ri).to(device), torch.from_numpy(rw).to(device))
        self._cols = (torch.from_numpy(ci).to(device), torch.from_numpy(cw).to(device))
        self._device = device

    def decode(
        self, protos: torch.Tensor, coeffs: torch.Tensor, xyxy: np.ndarray[Any, Any]
    ) -> tuple[InstanceMasks, BoolArray]:
        """Masks for boxes ``xyxy`` (frame pixels, host); also which masks are non-empty."""
        h0, w0 = self.frame_hw
        n = len(xyxy)
        bounds = np.zeros((n, 4), dtype=np.int64)  # r0, c0, height, width (as MaskDecoder.decode)
        for k, (x1, y1, x2, y2) in enumerate(xyxy.tolist()):
            c0, c1 = max(math.ceil(x1), 0), min(math.ceil(x2), w0)
            r0, r1 = max(math.ceil(y1), 0), min(math.ceil(y2), h0)
            bounds[k] = (r0, c0, max(r1 - r0, 0), max(c1 - c0, 0))
        origins = np.ascontiguousarray(bounds[:, [1, 0]], dtype=np.int32)
        if n == 0:
            return InstanceMasks((), origins, (h0, w0)), np.zeros(0, dtype=bool)
        nm, mh, mw = protos.shape
        mixture = (coeffs.float() @ protos.float().reshape(nm, mh * mw)).reshape(n, mh, mw)
        crops: list[BoolArray] = []
        nonempty: list[np.ndarray[Any, Any]] = []
        for start, stop in _chunks(bounds, mh):
            packed, any_set = self._decode_chunk(mixture[start:stop], bounds[start:stop])
            flat = packed.cpu().numpy()
            nonempty.append(any_set.cpu().numpy())
            offset = 0
            for _, _, h, w in bounds[start:stop].tolist():
                crops.append(flat[offset : offset + h * w].reshape(h, w))
                offset += h * w
        return InstanceMasks(tuple(crops), origins, (h0, w0)), np.concatenate(nonempty)

    def _decode_chunk(self, mixture: torch.Tensor, bounds: np.ndarray[Any, Any]) -> tuple[torch.Tensor, ...]:
        import torch  # noqa: PLC0415

        n, mh, _ = mixture.shape
        hmax, wmax = max(int(bounds[:, 2].max()), 1), max(int(bounds[:, 3].max()), 1)
        b = torch.from_numpy(bounds).to(self._device)
        r = torch.arange(hmax, device=self._device)
        c = torch.arange(wmax, device=self._device)
        h0, w0 = self.frame_hw
        row_at = (b[:, 0:1] + r).clamp_(max=h0 - 1)  # (n, hmax) frame rows, padded rows clamped
        col_at = (b[:, 1:2] + c).clamp_(max=w0 - 1)
        ri, rw = self._rows[0][row_at], self._rows[1][row_at]  # (n, hmax, taps)
        ci, cw = self._cols[0][col_at], self._cols[1][col_at]
        along_x: torch.Tensor | None = None
        for t in range(ci.shape[2]):  # same tap order as masks._resample: identical float32 sums
            idx = ci[:, None, :, t].expand(n, mh, wmax)
            taps = mixture.gather(2, idx) * cw[:, None, :, t]
            along_x = taps if along_x is None else along_x + taps
        if along_x is None:
            raise ValueError("no taps")
        out: torch.Tensor | None = None
        for t in range(ri.shape[2]):
            idx = ri[:, :, t, None].expand(n, hmax, wmax)
            taps = along_x.gather(1, idx) * rw[:, :, t, None]
            out = taps if out is None else out + taps
        if out is None:
            raise ValueError("no taps")
        valid = (r[None, :, None] < b[:, 2, None, None]) & (c[None, None, :] < b[:, 3, None, None])
        masks = (out > 0) & valid
        return masks[valid], masks.flatten(1).any(1)


def _chunks(bounds: np.ndarray[Any, Any], proto_h: int) -> list[tuple[int, int]]:
    """Split instances so that instances x (largest box) stays under ``MASK_CHUNK_ELEMENTS``."""
    out: list[tuple[int, int]] = []
    start, hmax, wmax = 0, 1, 1
    for k, (_, _, h, w) in enumerate(bounds.tolist()):
        nh, nw = max(hmax, h, 1), max(wmax, w, 1)
        if k > start and (k - start + 1) * max(nh, proto_h) * nw > MASK_CHUNK_ELEMENTS:
            out.append((start, k))
            start, nh, nw = k, max(h, 1), max(w, 1)
        hmax, wmax = nh, nw
    out.append((start, len(bounds)))
    return out


def device_nms(boxes: torch.Tensor, scores: torch.Tensor, class_id: torch.Tensor, iou: float) -> torch.Tensor:
    """``nms.batched_nms`` on the device: kept indices, highest score first (same ties, same IoU)."""
    import torch  # noqa: PLC0415

    k = boxes.shape[0]
    if k == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    if k > MATRIX_NMS_MAX:
        kept = batched_nms(boxes.cpu().numpy(), scores.cpu().numpy(), class_id.cpu().numpy(), iou)
        return torch.from_numpy(kept).to(boxes.device)
    offset = boxes + class_id.to(boxes.dtype)[:, None] * float(np.float32(MAX_WH))
    order = torch.sort(-scores, stable=True).indices
    b = offset[order]
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    w = torch.minimum(x2[:, None], x2[None, :]) - torch.maximum(x1[:, None], x1[None, :])
    h = torch.minimum(y2[:, None], y2[None, :]) - torch.maximum(y1[:, None], y1[None, :])
    inter = w.clamp(min=0) * h.clamp(min=0)
    overlap = inter / (areas[:, None] + areas[None, :] - inter)
    # suppresses[j, i]: the higher-scored j removes i if j is kept (NaN IoU suppresses, as in NumPy)
    suppresses = ~(overlap <= iou)
    suppresses = torch.triu(suppresses, diagonal=1)
    del w, h, inter, overlap
    keep = torch.ones(k, dtype=torch.bool, device=boxes.device)
    hits = suppresses.to(torch.float32)
    for _ in range(k):  # converges in (longest suppression chain) steps; usually a handful
        new = (keep.to(torch.float32) @ hits) == 0
        if torch.equal(new, keep):
            break
        keep = new
    return order[keep]


@dataclass
class _Staging:
    host: Any  # pinned (or plain) uint8 tensor for one frame size
    device: Any


class DeviceRunner:
    """Frames in, ``Detections`` out, with the network input built and the outputs decoded on the device."""

    def __init__(self, backend: DeviceBackend, num_classes: int, thresholds: Thresholds) -> None:
        self.backend = backend
        self.num_classes = num_classes
        self.thresholds = thresholds
        self._letterboxes: dict[tuple[int, int], DeviceLetterbox] = {}
        self._decoders: dict[tuple[tuple[int, int], tuple[int, int]], DeviceMaskDecoder] = {}
        self._staging: dict[tuple[tuple[int, int], int], _Staging] = {}

    def run(
        self, images: Sequence[UInt8Array], letterboxes: Sequence[Letterbox]
    ) -> tuple[list[Detections], dict[str, float]]:
        """One same-input-shape batch; returns detections per frame and seconds per stage for the batch."""
        import torch  # noqa: PLC0415

        device, stream = self.backend.device, self.backend.stream
        context = torch.cuda.stream(stream) if stream is not None else _NullContext()
        input_hw = letterboxes[0].input_hw
        with context, torch.inference_mode():
            t0 = time.perf_counter()
            batch = self.backend.input_buffer(len(images), input_hw)
            for k, (image, lb) in enumerate(zip(images, letterboxes, strict=True)):
                self._letterbox(lb, device).apply(self._upload(image, k), batch[k])
            self._sync()
            t1 = time.perf_counter()
            head, protos = self.backend.run_input(len(images), input_hw)
            self._sync()
            t2 = time.perf_counter()
            out = [self._postprocess(head[k], protos[k], lb, device) for k, lb in enumerate(letterboxes)]
            t3 = time.perf_counter()
        return out, {"preprocess": t1 - t0, "infer": t2 - t1, "postprocess": t3 - t2}

    def _sync(self) -> None:
        if self.backend.stream is not None:
            self.backend.stream.synchronize()

    def _upload(self, image: UInt8Array, slot: int) -> torch.Tensor:
        import torch  # noqa: PLC0415

        device = self.backend.device
        if device.type == "cpu":
            return torch.from_numpy(np.ascontiguousarray(image))
        key = (image.shape[:2], slot)
        staging = self._staging.get(key)
        if staging is None:  # sized once per frame size and batch slot: no allocation per frame
            host = torch.empty(image.shape, dtype=torch.uint8, pin_memory=True)
            staging = _Staging(host, torch.empty(image.shape, dtype=torch.uint8, device=device))
            self._staging[key] = staging
        np.copyto(staging.host.numpy(), image)  # previous batch has synchronised: safe to reuse
        staging.device.copy_(staging.host, non_blocking=True)
        return staging.device  # type: ignore[no-any-return]

    def _letterbox(self, lb: Letterbox, device: torch.device) -> DeviceLetterbox:
        dl = self._letterboxes.get(lb.frame_hw)
        if dl is None or dl.letterbox != lb:
            dl = DeviceLetterbox(lb, device)
            self._letterboxes[lb.frame_hw] = dl
        return dl

    def _decoder(self, lb: Letterbox, proto_hw: tuple[int, int], device: torch.device) -> DeviceMaskDecoder:
        key = (lb.frame_hw, proto_hw)
        dec = self._decoders.get(key)
        if dec is None:
            dec = DeviceMaskDecoder(MaskDecoder(lb, proto_hw), device)
            self._decoders[key] = dec
        return dec

    def _postprocess(
        self, pred: torch.Tensor, protos: torch.Tensor, lb: Letterbox, device: torch.device
    ) -> Detections:
        """``postprocess.postprocess`` for one frame, NMS and masks on the device."""
        import torch  # noqa: PLC0415

        nc, th = self.num_classes, self.thresholds
        pred = pred.float()
        class_scores = pred[4 : 4 + nc]
        best = class_scores.max(dim=0).values
        candidates = torch.nonzero(best > th.conf).flatten()
        if candidates.numel() == 0:
            return empty_detections(lb.frame_hw)
        if candidates.numel() > MAX_NMS_CANDIDATES:
            top = torch.sort(-best[candidates], stable=True).indices[:MAX_NMS_CANDIDATES]
            candidates = candidates[top]
        chosen = pred[:, candidates]
        score = best[candidates]
        class_id = class_scores[:, candidates].argmax(dim=0)
        xywh = chosen[:4].T
        half_w, half_h = xywh[:, 2] / 2, xywh[:, 3] / 2
        xyxy = torch.stack(
            [xywh[:, 0] - half_w, xywh[:, 1] - half_h, xywh[:, 0] + half_w, xywh[:, 1] + half_h], dim=1
        )
        keep = device_nms(xyxy, score, class_id, th.iou)[: th.max_det]
        boxes = lb.boxes_to_frame(xyxy[keep].cpu().numpy())  # tiny; host math keeps it bit-identical
        coeffs = chosen[4 + nc :, keep].T.contiguous()
        proto_hw = (int(protos.shape[1]), int(protos.shape[2]))
        masks, nonempty = self._decoder(lb, proto_hw, device).decode(protos, coeffs, boxes)
        class_np = class_id[keep].cpu().numpy().astype(np.int64)
        score_np = score[keep].cpu().numpy().astype(np.float32)
        if not nonempty.all():  # as the NumPy path: instances with an empty mask are dropped
            masks = InstanceMasks(
                tuple(c for c, k in zip(masks.crops, nonempty, strict=True) if k),
                masks.origins[nonempty],
                masks.frame_hw,
            )
            boxes, class_np, score_np = boxes[nonempty], class_np[nonempty], score_np[nonempty]
        return Detections(boxes.astype(np.float32), class_np, score_np, masks)


class _NullContext:
    """``contextlib.nullcontext`` without its generic typing noise."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
