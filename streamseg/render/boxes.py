"""Box outlines in each instance's class colour."""

from __future__ import annotations

import cv2

from streamseg.gpu.boxes import check_scene, pixel_boxes
from streamseg.gpu.palette import DEFAULT_PALETTE, Palette
from streamseg.types import SegResult, UInt8Array


class BoxAnnotator:
    """Draws ``xyxy`` rectangles; boxes reaching past the frame are clipped to its edge."""

    def __init__(self, palette: Palette = DEFAULT_PALETTE, thickness: int = 2) -> None:
        if thickness < 1:
            raise ValueError(f"thickness must be >= 1, got {thickness}")
        self.palette = palette
        self.thickness = int(thickness)

    def annotate(self, scene: UInt8Array, result: SegResult) -> UInt8Array:
        check_scene(scene)
        if len(result) == 0:
            return scene
        boxes = pixel_boxes(result.xyxy, scene.shape[1], scene.shape[0])
        colors = self.palette.colors(result.colour_keys).tolist()
        for (x0, y0, x1, y1), color in zip(boxes.tolist(), colors, strict=True):
            cv2.rectangle(scene, (x0, y0), (x1, y1), color, self.thickness, cv2.LINE_8)
        return scene
