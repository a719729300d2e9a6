"""Hide regions of a frame on the CPU: a copy of the frame with every region's pixels replaced by the
style's effect (``styles``), the rest byte-identical.

All regions are drawn in one pass over the union of their boxes: their masks are OR-ed into one uint8 map,
the effect is computed once over that box, and one ``cv2.copyTo`` puts it where the map is set, the way
``render.masks`` blends. Measured against one effect and one ``copyTo`` per region (20 people at 720p,
grown by 4 px, medians of 300 alternating rounds, ``hide`` alone): blur 0.84 vs 1.74 ms, pixelate 0.59 vs
0.85 ms, fill 0.29 vs 0.34 ms. Per region loses because each effect is padded to whole blocks (blur: plus
a block of margin), each ``cv2.resize`` recomputes its coefficient tables, and OpenCV pays per row of
every call; the regions of a crowd overlap the same blocks anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np

from streamseg.privacy.regions import Region, square
from streamseg.privacy.styles import STYLES, Box, block_size, effect
from streamseg.types import UInt8Array

logger = logging.getLogger(__name__)


class Hider:
    """Replaces pixels by ``blur``, ``pixelate`` or ``fill`` (see ``styles``); never touches its input.

    Stateless apart from its style, so one instance may serve several threads."""

    def __init__(self, style: str) -> None:
        if style not in STYLES:
            raise ValueError(f"unknown privacy style {style!r}; expected one of {', '.join(STYLES)}")
        self.style = style

    def hide(self, image: UInt8Array, regions: Sequence[Region], grow: int = 0) -> UInt8Array:
        """A new array: a copy of ``image`` (H, W, 3 uint8 BGR) with every pixel inside any region replaced
        by the style's effect. ``image`` is never modified (it may be read-only); pixels outside all regions
        are byte-identical to it. Regions hanging over the frame's edges are clipped.

        ``grow``: each region dilated first, exactly as ``grown(crop, origin, grow, frame)`` would, but by
        one dilation of the union map instead of one per region (dilation distributes over union). 20
        people at 720p: ``grow=4`` adds 0.13 ms to ``hide``, where ``mask_regions(masks, 4)`` takes
        0.16 ms more than ``mask_regions(masks)``."""
        if grow < 0:
            raise ValueError(f"grow must be >= 0, got {grow}")
        _check_image(image)
        out = image.copy()
        height, width = image.shape[:2]
        # pixels up to ``grow`` outside the frame can still dilate into it
        pieces = _visible_pieces(regions, (-grow, -grow, width + grow, height + grow))
        if not pieces:
            return out
        bx0 = min(p[1] for p in pieces) - grow
        by0 = min(p[2] for p in pieces) - grow
        bx1 = max(p[1] + p[0].shape[1] for p in pieces) + grow
        by1 = max(p[2] + p[0].shape[0] for p in pieces) + grow
        union = np.zeros((by1 - by0, bx1 - bx0), np.uint8)
        for mask, px, py in pieces:
            h, w = mask.shape
            sub = union[py - by0 : py - by0 + h, px - bx0 : px - bx0 + w]
            cv2.bitwise_or(sub, mask, dst=sub)
        if grow:
            union = cv2.dilate(union, square(grow))
        box: Box = (max(bx0, 0), max(by0, 0), min(bx1, width), min(by1, height))
        x0, y0, x1, y1 = box
        values = effect(self.style, image, box, block_size((height, width)))
        cv2.copyTo(values, union[y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0], out[y0:y1, x0:x1])
        return out

    def hide_all(self, image: UInt8Array) -> UInt8Array:
        """A new array with the whole frame hidden: what ``hide`` gives for a region covering every pixel."""
        _check_image(image)
        height, width = image.shape[:2]
        values = effect(self.style, image, (0, 0, width, height), block_size((height, width)))
        result: UInt8Array = np.ascontiguousarray(values)  # the upscaled grid may be wider than the frame
        return result


def _check_image(image: UInt8Array) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty: {image.shape}")


def _visible_pieces(regions: Sequence[Region], bounds: Box) -> list[tuple[UInt8Array, int, int]]:
    """Each region's part inside ``bounds`` as (0/1 uint8 mask, x0, y0); regions wholly outside dropped."""
    left, top, right, bottom = bounds
    pieces: list[tuple[UInt8Array, int, int]] = []
    for region in regions:
        crop = region.crop
        x0, y0 = region.origin
        cx0, cy0 = max(x0, left), max(y0, top)
        cx1, cy1 = min(x0 + crop.shape[1], right), min(y0 + crop.shape[0], bottom)
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        part = crop[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        pieces.append((part.view(np.uint8), cx0, cy0))
    return pieces
