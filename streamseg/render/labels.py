"""Class name + score tags on a filled background in the class colour, above each box."""

from __future__ import annotations

from dataclasses import dataclass

import cv2

from streamseg.gpu.boxes import check_scene, pixel_boxes
from streamseg.gpu.palette import DEFAULT_PALETTE, Palette, text_color_for
from streamseg.types import SegResult, UInt8Array

FONT = cv2.FONT_HERSHEY_SIMPLEX


def auto_text_scale(frame_height: int) -> float:
    """0.5 at 720p, growing with the frame so tags stay readable on 1080p/4K and tiny frames stay legible."""
    return max(0.35, 0.5 * frame_height / 720.0)


class LabelAnnotator:
    """Writes ``"#<track> <class> <score>"`` at each box's top-left corner (inside the box if there is
    no room above); ``#<track>`` only for tracked instances.

    ``text_scale=None`` picks a scale from the frame height on every call. ``by_track``: tags take the
    track's colour, as the masks and boxes do on both paths.
    """

    def __init__(
        self,
        palette: Palette = DEFAULT_PALETTE,
        text_scale: float | None = None,
        padding: int = 3,
        show_score: bool = True,
        by_track: bool = True,
    ) -> None:
        if text_scale is not None and text_scale <= 0:
            raise ValueError(f"text_scale must be > 0, got {text_scale}")
        self.palette = palette
        self.text_scale = text_scale
        self.padding = max(0, int(padding))
        self.show_score = show_score
        self.by_track = by_track

    def annotate(self, scene: UInt8Array, result: SegResult) -> UInt8Array:
        check_scene(scene)
        for tag in self.tags(result, scene.shape[1], scene.shape[0]):
            draw_tag(scene, tag)
        return scene

    def tags(self, result: SegResult, width: int, height: int) -> list[Tag]:
        """Where each instance's tag goes on a ``width`` x ``height`` canvas, and what it says."""
        n = len(result)
        if n == 0:
            return []
        scale = self.text_scale if self.text_scale is not None else auto_text_scale(height)
        thickness = 1 if scale < 0.8 else 2
        pad = self.padding
        boxes = pixel_boxes(result.xyxy, width, height).tolist()
        colors = self.palette.colors(result.colour_keys if self.by_track else result.class_id).tolist()
        scores = result.score.tolist()
        tracks = result.track_id.tolist()
        out = []
        for i in range(n):
            text = f"{result.class_name(i)} {scores[i]:.2f}" if self.show_score else result.class_name(i)
            if tracks[i] >= 0:
                text = f"#{tracks[i]} {text}"
            (tw, th), baseline = cv2.getTextSize(text, FONT, scale, thickness)
            lw, lh = tw + 2 * pad, th + baseline + 2 * pad
            x0, y0 = boxes[i][0], boxes[i][1]
            top = y0 - lh if y0 - lh >= 0 else y0  # above the box, or just inside its top edge
            left = min(x0, max(0, width - lw))
            b, g, r = colors[i]
            out.append(Tag(text, left, top, lw, lh, (b, g, r), scale, thickness, pad, th))
        return out


@dataclass(frozen=True, slots=True)
class Tag:
    """One label: its text and the filled rectangle behind it (canvas pixels)."""

    text: str
    left: int
    top: int
    width: int
    height: int
    color: tuple[int, int, int]  # BGR fill
    scale: float
    thickness: int
    pad: int
    text_height: int


def draw_tag(scene: UInt8Array, tag: Tag, dx: int = 0, dy: int = 0) -> None:
    """Draw ``tag`` with its rectangle moved by (dx, dy): on a patch cut out of a larger canvas."""
    left, top = tag.left + dx, tag.top + dy
    cv2.rectangle(scene, (left, top), (left + tag.width - 1, top + tag.height - 1), tag.color, cv2.FILLED)
    cv2.putText(
        scene,
        tag.text,
        (left + tag.pad, top + tag.pad + tag.text_height),
        FONT,
        tag.scale,
        text_color_for(tag.color),
        tag.thickness,
        cv2.LINE_AA,
    )
