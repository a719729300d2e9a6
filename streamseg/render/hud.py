"""A small status panel in the top-left corner: source, FPS, latency and instance count.

The numbers come from the caller (the pipeline owns the clocks); the panel only draws them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2

from streamseg.gpu.boxes import check_scene
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
        panel = self.panel(width, height, hud_lines(source, fps, latency_ms, n_instances))
        if panel is not None:
            draw_panel(scene, panel)
        return scene

    def panel(self, width: int, height: int, lines: list[str]) -> Panel | None:
        """Where the panel goes on a ``width`` x ``height`` canvas; None if the frame is too small."""
        scale = self.text_scale if self.text_scale is not None else auto_text_scale(height)
        thickness = 1 if scale < 0.8 else 2
        sizes = [cv2.getTextSize(line, FONT, scale, thickness) for line in lines]
        line_h = max(th + baseline for (_, th), baseline in sizes) + 4
        pad = max(4, line_h // 3)
        box_w = max(tw for (tw, _), _ in sizes) + 2 * pad
        box_h = line_h * len(lines) + 2 * pad - 4
        x0, y0 = self.margin, self.margin
        x1, y1 = min(width, x0 + box_w), min(height, y0 + box_h)
        if x1 <= x0 or y1 <= y0:
            return None  # frame smaller than the margin: nothing sensible to draw
        heights = tuple(th for (_, th), _ in sizes)
        return Panel(x0, y0, x1, y1, tuple(lines), heights, scale, thickness, pad, line_h, self.opacity)


@dataclass(frozen=True, slots=True)
class Panel:
    """The HUD's darkened rectangle (canvas pixels) and the lines written on it."""

    x0: int
    y0: int
    x1: int
    y1: int
    lines: tuple[str, ...]
    text_heights: tuple[int, ...]
    scale: float
    thickness: int
    pad: int
    line_h: int
    opacity: float


def draw_panel(scene: UInt8Array, panel: Panel, dx: int = 0, dy: int = 0) -> None:
    """Darken the panel and write its lines, moved by (dx, dy) (for a patch of a larger canvas)."""
    x0, y0 = panel.x0 + dx, panel.y0 + dy
    region = scene[y0 : panel.y1 + dy, x0 : panel.x1 + dx]
    cv2.addWeighted(region, 1.0 - panel.opacity, region, 0.0, 0.0, dst=region)
    for row, (line, th) in enumerate(zip(panel.lines, panel.text_heights, strict=True)):
        baseline_y = y0 + panel.pad + row * panel.line_h + th
        origin = (x0 + panel.pad, baseline_y)
        cv2.putText(scene, line, origin, FONT, panel.scale, _TEXT_COLOR, panel.thickness, cv2.LINE_AA)
