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

import functools
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from streamseg.config import RenderConfig
from streamseg.gpu.boxes import pixel_boxes
from streamseg.gpu.colour import bgr_to_i420
from streamseg.gpu.palette import DEFAULT_PALETTE, Palette
from streamseg.gpu.rects import I64, DeviceRects, PixelRects, RectPixels, passes
from streamseg.types import FloatArray, Frame, IntArray, UInt8Array

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import torch

    # (frames of the batch, each instance's frame position, xyxy, score, class id) -> track ids (-1: none)
    TrackHook = Callable[[Sequence[Frame], IntArray, FloatArray, FloatArray, IntArray], IntArray]


class DeviceOverlay:
    """Draws one batch of same-size BGR frames in place; see the module docstring."""

    def __init__(
        self, config: RenderConfig, palette: Palette = DEFAULT_PALETTE, tracks: TrackHook | None = None
    ) -> None:
        """``tracks``: assigns the instances of a batch their track ids as soon as their boxes are on the
        host (``SceneStep.track_early``), so masks and boxes are coloured by track as on the CPU path."""
        self.config = config
        self.palette = palette
        self.tracks = tracks
        self.alpha = float(np.float32(config.alpha))
        self.beta = float(np.float32(1.0 - config.alpha))

    @property
    def draws_masks(self) -> bool:
        return self.config.masks and self.config.alpha > 0

    def index_map(self, bgr: torch.Tensor) -> torch.Tensor | None:
        """Zeros, one int32 per pixel of the frames: which instance (1-based, counted within the frames
        drawn together) tops it."""
        import torch  # noqa: PLC0415

        if not self.draws_masks:
            return None
        b, h, w, _ = bgr.shape
        return torch.zeros(b * h * w, dtype=torch.int32, device=bgr.device)

    @staticmethod
    def add_mask_pixels(
        index_map: torch.Tensor, pixels: RectPixels, on: torch.Tensor, hw: tuple[int, int]
    ) -> None:
        """Mark the set pixels of one pass with their instance number (a later instance wins)."""
        h, w = hw
        where = (pixels.frame * h + pixels.y) * w + pixels.x
        value = (pixels.owner + 1).to(index_map.dtype) * on.to(index_map.dtype)
        index_map.scatter_reduce_(0, where, value, reduce="amax")

    def blend_masks(self, bgr: torch.Tensor, index_map: torch.Tensor, lut: torch.Tensor) -> None:
        """Blend every instance's colour at ``alpha`` over the pixels it tops; ``lut`` (I + 1, 3) uint8
        holds the colour of instance i at row i + 1 (``colour_table``)."""
        import torch  # noqa: PLC0415

        top = index_map.view(bgr.shape[:3])
        for f in range(bgr.shape[0]):  # a frame at a time: one frame's float32 intermediates, not 16
            frame, over = bgr[f], top[f]
            colour = lut[over.long()].to(torch.float32)
            mixed = (colour * self.alpha + frame.to(torch.float32) * self.beta).round_()
            frame.copy_(torch.where((over > 0)[..., None], mixed.to(torch.uint8), frame))

    def colour_table(self, keys: IntArray) -> UInt8Array:
        """(I + 1, 3) uint8: row 0 black (no instance), row i + 1 the palette colour of instance i
        (``keys``: its track id where it has one, else its class, as ``SegResult.colour_keys``)."""
        colors = np.zeros((len(keys) + 1, 3), np.uint8)
        colors[1:] = self.palette.colors(keys)
        return colors

    def box_rects(
        self, frame: I64, xyxy: FloatArray, owner: I64, frame_hw: tuple[int, int]
    ) -> PixelRects | None:
        """The four bands of every box outline as pixel rectangles (clipped to the frame)."""
        if not self.config.boxes or len(xyxy) == 0:
            return None
        h0, w0 = frame_hw
        corners = np.ones((len(xyxy), 5))  # x0, y0, x1, y1, 1 (float64: exact for pixel numbers)
        corners[:, :4] = pixel_boxes(xyxy, w0, h0)
        # (n, band, edge): r0, c0, r1, c1 of the top, bottom, left and right bands, in one product
        product = (corners @ self._band_matrix).reshape(len(xyxy), 4, 4).transpose(1, 0, 2)
        edges = product.reshape(-1, 4).astype(np.int64)
        np.clip(edges, 0, np.array([h0, w0, h0, w0]), out=edges)
        edges[:, 2:] -= edges[:, :2]  # r1, c1 -> height, width
        np.maximum(edges[:, 2:], 0, out=edges[:, 2:])
        return PixelRects.of(np.tile(frame, 4), np.tile(owner, 4), edges)

    @functools.cached_property
    def _band_matrix(self) -> npt.NDArray[np.float64]:
        """(5, 16): x0, y0, x1, y1, 1 -> r0, c0, r1, c1 of the four outline bands, ``line_width`` thick."""
        lo, hi = -(self.config.line_width // 2), self.config.line_width // 2 + 1
        x0, y0, x1, y1 = np.eye(5, dtype=np.int64)[:4]
        one = np.eye(5, dtype=np.int64)[4]
        bands = [
            (y0 + lo * one, x0 + lo * one, y0 + hi * one, x1 + hi * one),  # top
            (y1 + lo * one, x0 + lo * one, y1 + hi * one, x1 + hi * one),  # bottom
            (y0 + hi * one, x0 + lo * one, y1 + lo * one, x0 + hi * one),  # left
            (y0 + hi * one, x1 + lo * one, y1 + lo * one, x1 + hi * one),  # right
        ]
        return np.stack([edge for band in bands for edge in band], axis=1).astype(np.float64)

    def draw_boxes(
        self,
        bgr: torch.Tensor,
        rects: DeviceRects,
        lut: torch.Tensor,
        visible: torch.Tensor,
        real: torch.Tensor | None = None,
    ) -> None:
        """Paint the outline pixels of the instances that are ``visible`` (their mask is not empty).

        Like the masks, through a map of which instance tops each pixel: no data-dependent shapes
        (which would synchronise), and overlapping outlines resolve the same way every time. ``real``:
        the pixels past it are padding (a fixed-size layout) and paint nothing.
        """
        import torch  # noqa: PLC0415

        b, h, w, _ = bgr.shape
        top = torch.zeros(b * h * w, dtype=torch.int32, device=bgr.device)
        for start, stop in passes(rects.total):
            px = rects.pixels(start, stop, real)
            where = (px.frame * h + px.y) * w + px.x
            value = (px.owner + 1).to(torch.int32) * visible[px.owner].to(torch.int32)
            if px.valid is not None:
                value = value * px.valid.to(torch.int32)
            top.scatter_reduce_(0, where, value, reduce="amax")
        top = top.view(b, h, w)
        for f in range(b):  # a frame at a time: one frame's int64 gather indices, not the batch's
            frame, over = bgr[f], top[f]
            frame.copy_(torch.where((over > 0)[..., None], lut[over.long()], frame))

    @staticmethod
    def to_i420(bgr: torch.Tensor) -> torch.Tensor:
        """(B, H * 3 // 2, W') planar yuv420p of the frames (cut to even sizes), still on the device."""
        _, h, w, _ = bgr.shape
        even = bgr[:, : h - h % 2, : w - w % 2]
        return bgr_to_i420(even.contiguous() if (h % 2 or w % 2) else even)
