"""Semi-transparent instance masks with one blend per frame, however many instances there are.

Every instance writes its 1-based index into a uint8 index map (only inside its crop), the map is
turned into colours with a single ``cv2.applyColorMap`` lookup, and one ``addWeighted`` + masked copy
blends them over the union of the crops. Per-instance work is therefore a couple of byte-wide passes
over that crop; the 3-channel work is paid once, over the touched region, not once per instance.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from streamseg.gpu.boxes import check_scene
from streamseg.gpu.palette import DEFAULT_PALETTE, Palette
from streamseg.types import BoolArray, SegResult, UInt8Array

logger = logging.getLogger(__name__)

_MAX_PER_PASS = 255  # index 0 means "no mask", so one uint8 map holds 255 instances


class MaskAnnotator:
    """Fills each instance's mask with its class colour at ``alpha`` opacity; later instances win overlaps."""

    def __init__(self, palette: Palette = DEFAULT_PALETTE, alpha: float = 0.45) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
        self.palette = palette
        self.alpha = float(alpha)

    def annotate(self, scene: UInt8Array, result: SegResult) -> UInt8Array:
        check_scene(scene)
        if len(result) == 0 or self.alpha == 0.0:
            return scene
        height, width = scene.shape[:2]
        pieces = _visible_pieces(result, width, height)
        colors = self.palette.colors(result.colour_keys)
        for start in range(0, len(pieces), _MAX_PER_PASS):
            self._blend_pass(scene, pieces[start : start + _MAX_PER_PASS], colors)
        return scene

    def _blend_pass(self, scene: UInt8Array, pieces: list[_Piece], colors: UInt8Array) -> None:
        if not pieces:
            return
        rx0 = min(p.x0 for p in pieces)
        ry0 = min(p.y0 for p in pieces)
        rx1 = max(p.x0 + p.mask.shape[1] for p in pieces)
        ry1 = max(p.y0 + p.mask.shape[0] for p in pieces)
        region = scene[ry0:ry1, rx0:rx1]
        index = np.zeros(region.shape[:2], np.uint8)
        cmap = np.zeros((256, 1, 3), np.uint8)  # row k = colour of the k-th instance in this pass
        for k, piece in enumerate(pieces, start=1):
            h, w = piece.mask.shape
            sub = index[piece.y0 - ry0 : piece.y0 - ry0 + h, piece.x0 - rx0 : piece.x0 - rx0 + w]
            # mask (0/1) * k, then max: indices grow with k, so a later instance covers an earlier one
            cv2.max(sub, piece.mask.view(np.uint8) * np.uint8(k), dst=sub)
            cmap[k, 0] = colors[piece.instance]
        color = cv2.applyColorMap(index, cmap)
        cv2.addWeighted(color, self.alpha, region, 1.0 - self.alpha, 0.0, dst=color)
        cv2.copyTo(color, index, region)  # only where some mask is set; the rest keeps its pixels


class _Piece:
    """The part of one instance's crop that lies on the canvas."""

    __slots__ = ("instance", "mask", "x0", "y0")

    def __init__(self, instance: int, mask: BoolArray, x0: int, y0: int) -> None:
        self.instance = instance
        self.mask = mask
        self.x0 = x0
        self.y0 = y0


def _visible_pieces(result: SegResult, width: int, height: int) -> list[_Piece]:
    """Clip every crop to the canvas (crops may hang over an edge or the frame may have been resized)."""
    pieces: list[_Piece] = []
    origins = result.masks.origins
    for i, crop in enumerate(result.masks.crops):
        if crop.ndim != 2 or crop.size == 0:
            continue
        mask = crop if crop.dtype == np.bool_ else crop != 0
        x0, y0 = int(origins[i, 0]), int(origins[i, 1])
        cx0, cy0 = max(x0, 0), max(y0, 0)
        cx1, cy1 = min(x0 + mask.shape[1], width), min(y0 + mask.shape[0], height)
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        if (cx0, cy0, cx1, cy1) != (x0, y0, x0 + mask.shape[1], y0 + mask.shape[0]):
            mask = mask[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        pieces.append(_Piece(i, mask, cx0, cy0))
    return pieces
