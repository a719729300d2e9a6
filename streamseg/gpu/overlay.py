"""Masks and boxes drawn on the device, and the annotated frames turned into yuv420p there.

Why: on a GPU the frame is already in device memory; drawing on the host would mean downloading it
as BGR (3 bytes a pixel), blending masks on the CPU and converting to yuv420p for x264 there. Here
the blend, the boxes and the BGR -> yuv420p conversion run on the device for the whole batch, and
each frame comes down once, 1.5 bytes a pixel, into a pinned buffer the encoder reads. Labels and
the HUD (text) are drawn on the host afterwards, on small patches of that yuv420p picture
(``render/i420``).

The look is the CPU renderer's: the same palette, ``alpha`` blend rounded as ``cv2.addWeighted``
does, later instances over earlier ones, box outlines ``line_width`` thick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from streamseg.config import RenderConfig
from streamseg.gpu.boxes import pixel_boxes
from streamseg.gpu.colour import bgr_to_i420
from streamseg.gpu.palette import DEFAULT_PALETTE, Palette
from streamseg.gpu.rects import I64, PixelRects, RectPixels, passes, upload
from streamseg.types import FloatArray, IntArray

if TYPE_CHECKING:
    import torch


class DeviceOverlay:
    """Draws one batch of same-size BGR frames in place; see the module docstring."""

    def __init__(self, config: RenderConfig, palette: Palette = DEFAULT_PALETTE) -> None:
        self.config = config
        self.palette = palette
        self.alpha = float(np.float32(config.alpha))
        self.beta = float(np.float32(1.0 - config.alpha))

    @property
    def draws_masks(self) -> bool:
        return self.config.masks and self.config.alpha > 0

    def index_map(self, bgr: torch.Tensor) -> torch.Tensor | None:
        """Zeros, one int32 per pixel of the batch: which instance (1-based, batch-wide) tops it."""
        import torch  # noqa: PLC0415

        if not self.draws_masks:
            return None
        b, h, w, _ = bgr.shape
        return torch.zeros(b * h * w, dtype=torch.int32, device=bgr.device)

    @staticmethod
    def add_mask_pixels(
        index_map: torch.Tensor, pixels: RectPixels, on: torch.Tensor, hw: tuple[int, int], first_frame: int
    ) -> None:
        """Mark the set pixels of one pass with their instance number (a later instance wins);
        ``first_frame`` is the batch position of the map's first frame."""
        h, w = hw
        where = ((pixels.frame - first_frame) * h + pixels.y) * w + pixels.x
        value = (pixels.owner + 1).to(index_map.dtype) * on.to(index_map.dtype)
        index_map.scatter_reduce_(0, where, value, reduce="amax")

    def blend_masks(self, bgr: torch.Tensor, index_map: torch.Tensor, class_id: IntArray) -> None:
        """Blend every instance's colour at ``alpha`` over the pixels it tops (instances numbered as
        ``class_id``, the batch's instances in order)."""
        import torch  # noqa: PLC0415

        colors = np.zeros((len(class_id) + 1, 3), np.uint8)
        colors[1:] = self.palette.colors(class_id)
        lut = upload(colors, bgr.device)
        top = index_map.view(bgr.shape[:3])
        mixed = (lut[top.long()].to(torch.float32) * self.alpha + bgr.to(torch.float32) * self.beta).round_()
        bgr.copy_(torch.where((top > 0)[..., None], mixed.to(torch.uint8), bgr))

    def box_rects(
        self, frame: I64, xyxy: FloatArray, owner: I64, frame_hw: tuple[int, int]
    ) -> PixelRects | None:
        """The four bands of every box outline as pixel rectangles (clipped to the frame)."""
        if not self.config.boxes or len(xyxy) == 0:
            return None
        h0, w0 = frame_hw
        half = self.config.line_width // 2
        x0, y0, x1, y1 = (c.astype(np.int64) for c in pixel_boxes(xyxy, w0, h0).T)
        band = 2 * half + 1
        inner_top, inner_h = y0 + half + 1, np.maximum(y1 - half - (y0 + half + 1), 0)
        rows = np.concatenate([y0 - half, y1 - half, inner_top, inner_top])
        cols = np.concatenate([x0 - half, x0 - half, x0 - half, x1 - half])
        heights = np.concatenate([np.full_like(y0, band), np.full_like(y0, band), inner_h, inner_h])
        widths = np.concatenate(
            [x1 - x0 + band, x1 - x0 + band, np.full_like(x0, band), np.full_like(x0, band)]
        )
        r0, c0 = np.clip(rows, 0, h0), np.clip(cols, 0, w0)
        r1, c1 = np.clip(rows + heights, 0, h0), np.clip(cols + widths, 0, w0)
        bounds = np.stack([r0, c0, np.maximum(r1 - r0, 0), np.maximum(c1 - c0, 0)], axis=1)
        return PixelRects.of(np.tile(frame, 4), np.tile(owner, 4), bounds)

    def draw_boxes(
        self,
        bgr: torch.Tensor,
        rects: PixelRects,
        class_id: IntArray,
        visible: torch.Tensor,
        first_frame: int,
    ) -> None:
        """Paint the outline pixels of the instances that are ``visible`` (their mask is not empty).

        Like the masks, through a map of which instance tops each pixel: no data-dependent shapes
        (which would synchronise), and overlapping outlines resolve the same way every time.
        """
        import torch  # noqa: PLC0415

        b, h, w, _ = bgr.shape
        colors = np.zeros((len(class_id) + 1, 3), np.uint8)
        colors[1:] = self.palette.colors(class_id)
        lut = upload(colors, bgr.device)
        device_rects = rects.to_device(bgr.device)
        top = torch.zeros(b * h * w, dtype=torch.int32, device=bgr.device)
        for start, stop in passes(rects.total):
            px = device_rects.pixels(start, stop)
            where = ((px.frame - first_frame) * h + px.y) * w + px.x
            value = (px.owner + 1).to(torch.int32) * visible[px.owner].to(torch.int32)
            top.scatter_reduce_(0, where, value, reduce="amax")
        top = top.view(b, h, w)
        bgr.copy_(torch.where((top > 0)[..., None], lut[top.long()], bgr))

    @staticmethod
    def download_i420(bgr: torch.Tensor) -> list[Any]:
        """Each frame as planar yuv420p (even size) copied into a pinned host buffer, asynchronously.

        The buffers come from PyTorch's caching host allocator, so they are reused from frame to frame;
        wait for the batch's event before reading them.
        """
        import torch  # noqa: PLC0415

        b, h, w, _ = bgr.shape
        even = bgr[:, : h - h % 2, : w - w % 2]
        i420 = bgr_to_i420(even.contiguous() if (h % 2 or w % 2) else even)
        pinned = i420.device.type == "cuda"
        out = []
        for k in range(b):
            host = torch.empty(i420.shape[1:], dtype=torch.uint8, pin_memory=pinned)
            host.copy_(i420[k], non_blocking=pinned)
            out.append(host)
        return out
