"""Pre- and postprocessing as torch ops on the backend's device, a whole batch at a time.

Shared by the PyTorch and TensorRT backends. What one batch costs on a GPU:

1. **In**: frames decoded by NVDEC (``YuvSurface``) are converted to BGR on the device, all frames
   of a size together; host frames are uploaded from pinned buffers. The letterbox writes straight
   into the network's static input (bit-identical to ``Letterbox.apply`` + ``to_tensor``).
2. **Network**: the backend's ``run_input`` (a CUDA graph replay, or a TensorRT context).
3. **Candidates and NMS** for every frame together (``device/nms``), then **one** download of a
   small table (boxes, scores, classes, anchors per frame): the batch's only host synchronisation.
4. **Masks** of all instances of all frames in one mixture product and one pass over their box
   pixels (``device/masks``); with an overlay, masks and boxes are drawn into the frames there and
   each frame is converted to yuv420p (``gpu/overlay``).
5. Everything after (3) is queued, not waited for: ``DeviceBatch`` holds the event that says it is
   done, and the render thread resolves the batch (instances whose mask came out empty dropped,
   masks copied down only when a consumer wants them, the pictures for the encoders).

The ops are device-agnostic, so CPU CI checks them against the NumPy path for equality.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from streamseg.gpu.colour import coefficient_table, yuv_to_bgr
from streamseg.gpu.rects import PixelRects, RectPixels, passes, upload
from streamseg.inference.letterbox import PAD_VALUE, Letterbox
from streamseg.inference.runtimes.base import DeviceBackend
from streamseg.inference.yolo.device.batch import BatchInstances, DeviceBatch, KeptTable, StageClock
from streamseg.inference.yolo.device.masks import PackedMaskDecoder, box_bounds, mixtures
from streamseg.inference.yolo.device.nms import NMS_STEPS, SuppressionState, compact, select_candidates
from streamseg.inference.yolo.masks import MaskDecoder
from streamseg.inference.yolo.postprocess import Thresholds, kept_candidates
from streamseg.types import Frame, UInt8Array

if TYPE_CHECKING:
    import torch

    from streamseg.gpu.overlay import DeviceOverlay

_INV_255 = np.float32(1.0 / 255.0)
MIN_CANDIDATES = 64  # per-frame candidate slots to start with; grows to the most seen (power of two)
MAX_CANDIDATES = 2048  # beyond this a frame's NMS runs on the host (a k x k matrix per frame is enough)
_PAYLOAD_COLUMNS = 7  # x1, y1, x2, y2, score, class, anchor


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
    """``Letterbox.apply`` + ``to_tensor`` for one frame size on the device, bit-identical to cv2.

    cv2's ``INTER_LINEAR`` uint8 resize is reproduced in integer arithmetic (11-bit weights computed
    in float32, horizontal pass, ``>> 4``, high-half multiply, ``+ 2 >> 2``: what OpenCV's vectorised
    path computes). Works on a batch: (b, h0, w0, 3) frames in, (b, 3, h, w) network input out.
    """

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

    def resize(self, images: torch.Tensor) -> torch.Tensor:
        """(b, h0, w0, 3) uint8 -> (b, nh, nw, 3) uint8, as ``cv2.resize(..., INTER_LINEAR)``."""
        if not self._resize:
            return images
        import torch  # noqa: PLC0415

        x0, x1, a0, a1 = self._x
        y0, y1, b0, b1 = self._y
        src = images.to(torch.int32)
        rows = src[:, :, x0] * a0 + src[:, :, x1] * a1  # horizontal pass, exact integers
        top, bottom = rows[:, y0] >> 4, rows[:, y1] >> 4
        mixed = ((top * b0) >> 16) + ((bottom * b1) >> 16)
        return ((mixed + 2) >> 2).clamp_(0, 255).to(torch.uint8)

    def apply(self, images: torch.Tensor, out: torch.Tensor) -> None:
        """Letterbox (b, h0, w0, 3) uint8 BGR frames into ``out`` (b, 3, h, w): RGB, scaled to [0, 1]."""
        lb = self.letterbox
        resized = self.resize(images)
        nw, nh = lb.resized_wh
        if lb.top or lb.bottom or lb.left or lb.right:  # same rounding as to_tensor: u8 * f32(1/255)
            out.fill_(float(np.float32(PAD_VALUE) * _INV_255))
        chw = resized.index_select(3, self._rgb).permute(0, 3, 1, 2)
        region = out[:, :, lb.top : lb.top + nh, lb.left : lb.left + nw]
        region.copy_(chw.float() * float(_INV_255))


class _MaskSampler:
    """The batch-wide part of mask decoding: coefficients gathered, mixtures multiplied, layout uploaded."""

    def __init__(
        self, head: torch.Tensor, protos: torch.Tensor, inst: BatchInstances, rects: PixelRects, nc: int
    ) -> None:
        device = protos.device
        self.per_frame = max(int(np.bincount(inst.frame).max()), 1)
        index = upload(np.stack([inst.frame, inst.anchor, inst.frame * self.per_frame + inst.rank]), device)
        coeffs = head[index[0], 4 + nc :, index[1]]  # (M, nm)
        self.proto_hw = (int(protos.shape[2]), int(protos.shape[3]))
        self.mixtures = mixtures(protos, coeffs, index[2], self.per_frame)
        self.rank = upload(inst.rank, device)
        self.rects = rects.to_device(device)

    def sample(self, decoder: PackedMaskDecoder, start: int, stop: int) -> tuple[RectPixels, torch.Tensor]:
        """Pixels ``start:stop`` of the layout and whether each is inside its instance's mask."""
        px = self.rects.pixels(start, stop)
        return px, decoder.sample(self.mixtures, px, self.per_frame, self.rank)


class DeviceRunner:
    """Frames in, a ``DeviceBatch`` out; see the module docstring for what runs where."""

    def __init__(self, backend: DeviceBackend, num_classes: int, thresholds: Thresholds) -> None:
        self.backend = backend
        self.num_classes = num_classes
        self.thresholds = thresholds
        self.candidate_slots = MIN_CANDIDATES
        self.host_nms_frames = 0  # frames whose NMS ran on the host (more than MAX_CANDIDATES)
        self.extra_nms_rounds = 0  # batches whose suppression needed more than NMS_STEPS steps
        self._letterboxes: dict[tuple[int, int], DeviceLetterbox] = {}
        self._decoders: dict[tuple[tuple[int, int], tuple[int, int]], PackedMaskDecoder] = {}
        self._staging: dict[tuple[tuple[int, ...], int], Any] = {}  # pinned host buffers per size and slot

    def submit(
        self,
        frames: Sequence[Frame],
        letterboxes: Sequence[Letterbox],
        overlay: DeviceOverlay | None = None,
        host_masks: bool = True,
    ) -> DeviceBatch:
        """One same-input-shape batch. Waits for the device once (boxes); the rest stays queued."""
        import torch  # noqa: PLC0415

        device, stream = self.backend.device, self.backend.stream
        context = torch.cuda.stream(stream) if stream is not None else _NullContext()
        order = sorted(range(len(frames)), key=lambda i: letterboxes[i].frame_hw)  # sizes together
        frames = [frames[i] for i in order]
        letterboxes = [letterboxes[i] for i in order]
        with context, torch.inference_mode():
            clock = StageClock(stream)
            input_hw = letterboxes[0].input_hw
            batch = self.backend.input_buffer(len(frames), input_hw)
            groups = _size_groups(letterboxes)
            pictures = []
            for start, stop in groups:
                bgr = self._bgr(frames[start:stop], device)
                self._letterbox(letterboxes[start], device).apply(bgr, batch[start:stop])
                pictures.append(bgr)
            clock.mark("preprocess")
            head, protos = self.backend.run_input(len(frames), input_hw)
            clock.mark("infer")
            instances = self._instances(head.float(), letterboxes)  # the one host synchronisation
            result = self._masks_and_overlay(
                head, protos, instances, letterboxes, groups, pictures, overlay, host_masks
            )
            clock.mark("postprocess")
            result.finish(clock)
        return result.reordered(order)

    # ------------------------------------------------------------------ input
    def _bgr(self, frames: Sequence[Frame], device: torch.device) -> torch.Tensor:
        """(b, h, w, 3) uint8 BGR on the device for same-size frames: surfaces converted, host uploaded."""
        import torch  # noqa: PLC0415

        from streamseg.gpu.surface import YuvSurface  # noqa: PLC0415

        h, w = frames[0].frame_hw
        surfaces = [(k, f.surface) for k, f in enumerate(frames) if isinstance(f.surface, YuvSurface)]
        out = torch.empty((len(frames), h, w, 3), dtype=torch.uint8, device=device)
        if surfaces:
            stream = self.backend.stream
            if stream is not None:  # decoded on a capture thread's stream: keep them alive for ours
                for _, s in surfaces:
                    s.y.record_stream(stream)
                    s.uv.record_stream(stream)
            y = torch.stack([s.y for _, s in surfaces])
            uv = torch.stack([s.uv for _, s in surfaces])
            table = coefficient_table([s.coefficients for _, s in surfaces], device)
            bgr = yuv_to_bgr(y, uv, table)
            if len(surfaces) == len(frames):
                return bgr
            out.index_copy_(0, upload(np.array([k for k, _ in surfaces]), device), bgr)
        for k, frame in enumerate(frames):
            if not isinstance(frame.surface, YuvSurface):
                out[k].copy_(self._upload(frame.image, k), non_blocking=True)
        return out

    def _upload(self, image: UInt8Array, slot: int) -> torch.Tensor:
        import torch  # noqa: PLC0415

        if self.backend.device.type == "cpu":
            return torch.from_numpy(np.ascontiguousarray(image))
        key = (image.shape[:2], slot)
        staging = self._staging.get(key)
        if staging is None:  # sized once per frame size and batch slot: no allocation per frame
            staging = torch.empty(image.shape, dtype=torch.uint8, pin_memory=True)
            self._staging[key] = staging
        np.copyto(staging.numpy(), image)  # the previous batch has synchronised: safe to reuse
        return staging

    def _letterbox(self, lb: Letterbox, device: torch.device) -> DeviceLetterbox:
        dl = self._letterboxes.get(lb.frame_hw)
        if dl is None or dl.letterbox != lb:
            dl = DeviceLetterbox(lb, device)
            self._letterboxes[lb.frame_hw] = dl
        return dl

    # ------------------------------------------------------------------ candidates and NMS
    def _instances(self, pred: torch.Tensor, letterboxes: Sequence[Letterbox]) -> BatchInstances:
        """Boxes, scores, classes and anchors of every kept instance: the batch's single download."""
        th = self.thresholds
        k = self.candidate_slots
        candidates = select_candidates(pred, self.num_classes, th.conf, k)
        state = SuppressionState(candidates, th.iou)
        converged = state.step(NMS_STEPS)
        table = KeptTable.download(compact(candidates, state.keep, th.max_det), candidates.count, converged)
        while not table.converged.all():  # a suppression chain longer than NMS_STEPS: rare
            self.extra_nms_rounds += 1
            converged = state.step(NMS_STEPS)
            table = KeptTable.download(
                compact(candidates, state.keep, th.max_det), candidates.count, converged
            )
        overflow = np.flatnonzero(table.count > candidates.anchors.shape[1])
        if overflow.size:  # more candidates than slots: exact NMS on the host for those frames
            self.host_nms_frames += int(overflow.size)
            self.candidate_slots = min(MAX_CANDIDATES, _next_power_of_two(int(table.count.max())))
            for f in overflow.tolist():
                table.replace_frame(f, kept_candidates(pred[f].cpu().numpy(), self.num_classes, th))
        return table.instances(letterboxes)

    # ------------------------------------------------------------------ masks and overlay
    def _masks_and_overlay(
        self,
        head: torch.Tensor,
        protos: torch.Tensor,
        inst: BatchInstances,
        letterboxes: Sequence[Letterbox],
        groups: list[tuple[int, int]],
        pictures: list[torch.Tensor],
        overlay: DeviceOverlay | None,
        host_masks: bool,
    ) -> DeviceBatch:
        """Queue the masks of every instance (and the overlay); nothing here waits for the device."""
        import torch  # noqa: PLC0415

        device = protos.device
        m = len(inst.frame)
        bounds = np.zeros((m, 4), np.int64)
        for start, stop in groups:
            in_group = (inst.frame >= start) & (inst.frame < stop)
            bounds[in_group] = box_bounds(inst.xyxy[in_group], letterboxes[start].frame_hw)
        rects = PixelRects.of(inst.frame, np.arange(m, dtype=np.int64), bounds)
        packed = torch.zeros(rects.total, dtype=torch.bool, device=device)
        nonempty = torch.zeros(m, dtype=torch.int32, device=device)
        sampler = _MaskSampler(head, protos, inst, rects, self.num_classes) if m else None
        pictures_out: list[Any] = []
        for (start, stop), bgr in zip(groups, pictures, strict=True):
            lb = letterboxes[start]
            index_map = overlay.index_map(bgr) if overlay is not None else None
            sel = np.flatnonzero((inst.frame >= start) & (inst.frame < stop))
            if sampler is not None and sel.size:
                decoder = self._decoder(lb, sampler.proto_hw, device)
                first = int(rects.starts[sel[0]])
                last = int(rects.starts[sel[-1]] + rects.sizes[sel[-1]])
                for p0, p1 in passes(last - first):
                    px, on = sampler.sample(decoder, first + p0, first + p1)
                    packed[first + p0 : first + p1] = on
                    nonempty.scatter_reduce_(0, px.owner, on.to(torch.int32), reduce="amax")
                    if overlay is not None and index_map is not None:
                        overlay.add_mask_pixels(index_map, px, on, lb.frame_hw, start)
            if overlay is None:
                continue
            if index_map is not None and sel.size:
                overlay.blend_masks(bgr, index_map, inst.class_id)
            box_rects = overlay.box_rects(inst.frame[sel], inst.xyxy[sel], sel, lb.frame_hw)
            if box_rects is not None:
                overlay.draw_boxes(bgr, box_rects, inst.class_id, nonempty > 0, start)
            pictures_out.extend(overlay.download_i420(bgr))
        return DeviceBatch(
            instances=inst,
            rects=rects,
            letterboxes=list(letterboxes),
            packed=packed,
            nonempty=nonempty,
            pictures=pictures_out if overlay is not None else None,
            host_masks=host_masks,
        )

    def _decoder(self, lb: Letterbox, proto_hw: tuple[int, int], device: torch.device) -> PackedMaskDecoder:
        key = (lb.frame_hw, proto_hw)
        dec = self._decoders.get(key)
        if dec is None:
            dec = PackedMaskDecoder(MaskDecoder(lb, proto_hw), device)
            self._decoders[key] = dec
        return dec


def _size_groups(letterboxes: Sequence[Letterbox]) -> list[tuple[int, int]]:
    """Runs of equal frame size in (sorted) ``letterboxes``, as (start, stop)."""
    groups: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(letterboxes) + 1):
        if i == len(letterboxes) or letterboxes[i].frame_hw != letterboxes[start].frame_hw:
            groups.append((start, i))
            start = i
    return groups


def _next_power_of_two(n: int) -> int:
    return 1 << max(n - 1, 1).bit_length()


class _NullContext:
    """``contextlib.nullcontext`` without its generic typing noise."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
