"""Zones and counting lines on the picture: each zone's outline with its name and how many objects are in
it, each line with its crossings in and out. On BGR frames (the CPU renderer, previews, stills) and on
the GPU path's yuv420p pictures, where the outlines go straight into the planes and the tags are drawn
on small patches (``I420Picture.paint``), as labels are."""

from __future__ import annotations

import cv2
import numpy as np

from streamseg.gpu.picture import I420Picture
from streamseg.render.labels import FONT, Tag, auto_text_scale, draw_tag
from streamseg.types import SceneMarks, UInt8Array

ZONE_BGR = (0, 200, 255)  # amber: not a class colour of the default palette's first classes
LINE_BGR = (255, 0, 255)


def _bgr_to_yuv(bgr: tuple[int, int, int]) -> tuple[int, int, int]:
    pixel = np.array([[bgr]], dtype=np.uint8)
    y, u, v = cv2.cvtColor(pixel, cv2.COLOR_BGR2YUV)[0, 0]
    return int(y), int(u), int(v)


class SceneAnnotator:
    """Draws a result's ``SceneMarks``."""

    def __init__(self, thickness: int = 2) -> None:
        self.thickness = max(1, thickness)

    def outlines(self, marks: SceneMarks) -> list[tuple[UInt8Array, tuple[int, int, int], bool]]:
        """(points as int32 (K, 2), colour, closed) per shape."""
        shapes: list[tuple[UInt8Array, tuple[int, int, int], bool]] = []
        for zone in marks.zones:
            shapes.append((np.round(zone.polygon).astype(np.int32), ZONE_BGR, True))
        for line in marks.lines:
            shapes.append((np.round(np.array([line.start, line.end])).astype(np.int32), LINE_BGR, False))
        return shapes

    def tags(self, marks: SceneMarks, width: int, height: int) -> list[Tag]:
        scale = auto_text_scale(height)
        thickness = 1 if scale < 0.8 else 2
        out: list[Tag] = []
        texts = [
            (f"{z.name}: {z.count}", z.polygon[np.argmin(z.polygon.sum(axis=1))], ZONE_BGR)
            for z in marks.zones
        ]
        texts += [
            (f"{ln.name}: in {ln.crossed_in} / out {ln.crossed_out}", np.array(ln.start), LINE_BGR)
            for ln in marks.lines
        ]
        pad = 3
        for text, anchor, colour in texts:
            (tw, th), baseline = cv2.getTextSize(text, FONT, scale, thickness)
            lw, lh = tw + 2 * pad, th + baseline + 2 * pad
            left = int(min(max(0, anchor[0]), max(0, width - lw)))
            top = int(min(max(0, anchor[1]), max(0, height - lh)))
            out.append(Tag(text, left, top, lw, lh, colour, scale, thickness, pad, th))
        return out

    def annotate(self, scene: UInt8Array, marks: SceneMarks | None) -> UInt8Array:
        if marks is None:
            return scene
        for points, colour, closed in self.outlines(marks):
            cv2.polylines(scene, [points.reshape(-1, 1, 2)], closed, colour, self.thickness, cv2.LINE_AA)
        for tag in self.tags(marks, scene.shape[1], scene.shape[0]):
            draw_tag(scene, tag)
        return scene

    def annotate_i420(self, picture: I420Picture, marks: SceneMarks | None) -> None:
        if marks is None:
            return
        y, u, v = picture.planes()
        for points, colour, closed in self.outlines(marks):
            cy, cu, cv = _bgr_to_yuv(colour)
            cv2.polylines(y, [points.reshape(-1, 1, 2)], closed, cy, self.thickness)
            half = (points // 2).reshape(-1, 1, 2)
            chroma = max(1, self.thickness // 2)
            cv2.polylines(u, [half], closed, cu, chroma)
            cv2.polylines(v, [half], closed, cv, chroma)
        for tag in self.tags(marks, picture.width, picture.height):
            picture.paint(
                tag.left,
                tag.top,
                tag.left + tag.width,
                tag.top + tag.height,
                lambda patch, dx, dy, tag=tag: draw_tag(patch, tag, dx, dy),  # type: ignore[misc]
            )
