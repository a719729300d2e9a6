"""A small status panel in the top-left corner: source, FPS, latency and instance count.

The numbers come from the caller (the pipeline owns the clocks); the panel only draws them.
"""

from __future__ import annotations

import cv2

from streamseg.render._scene import check_scene
from streamseg.render.labels import FONT, auto_text_scale
from streamseg.types import UInt8Array

_TEXT_COLOR = (255, 255, 255)


def hud_lines(source: str, fps: float | None, latency_ms: float | None, n_instances: int) -> list[str]:
    """The panel's text; unknown values (no estimate yet) show as ``-``."""
    return [
        source or "-",
        f"FPS {fps:.1f}" if fps is not None else "FPS -",
        f"latency {latency_ms:.0f} ms" if latency_ms is not None else "latency - ms",
        f"instances {n_instances}",
    ]


class HudAnnotator:
    """Darkens a box behind the text (``opacity`` is how dark) so it stays readable on any footage."""

    def __init__(self, text_scale: float | None = None, opacity: float = 0.55, margin: int = 8) -> None:
        if not 0.0 <= opacity <= 1.0:
            raise ValueError(f"opacity must be between 0 and 1, got {opacity}")
        self.text_scale = text_scale
        self.opacity = float(opacity)
        self.margin = max(0, int(margin))

    def annotate(
        self,
        scene: UInt8Array,
        source: str,
        fps: float | None,
        latency_ms: float | None,
        n_instances: int,
    ) -> UInt8Array:
        check_scene(scene)
        height, width = scene.shape[:2]
        scale = self.text_scale if self.text_scale is not None else auto_text_scale(height)
        thickness = 1 if scale < 0.8 else 2
        lines = hud_lines(source, fps, latency_ms, n_instances)
        sizes = [cv2.getTextSize(line, FONT, scale, thickness) for line in lines]
        line_h = max(th + baseline for (_, th), baseline in sizes) + 4
        pad = max(4, line_h // 3)
        box_w = max(tw for (tw, _), _ in sizes) + 2 * pad
        box_h = line_h * len(lines) + 2 * pad - 4
        x0, y0 = self.margin, self.margin
        x1, y1 = min(width, x0 + box_w), min(height, y0 + box_h)
        if x1 <= x0 or y1 <= y0:
            return scene  # frame smaller than the margin: nothing sensible to draw
        panel = scene[y0:y1, x0:x1]
        cv2.addWeighted(panel, 1.0 - self.opacity, panel, 0.0, 0.0, dst=panel)
        for row, (line, ((_, th), _)) in enumerate(zip(lines, sizes, strict=True)):
            baseline_y = y0 + pad + row * line_h + th
            cv2.putText(scene, line, (x0 + pad, baseline_y), FONT, scale, _TEXT_COLOR, thickness, cv2.LINE_AA)
        return scene
