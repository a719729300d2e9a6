"""Text drawn onto annotated frames in the encoder's own format (planar yuv420p, ``gpu.picture``).

On the GPU path a frame comes back from the device already blended and converted to yuv420p
(``gpu/overlay``). Labels and the HUD are text, which the host draws best; rather than
convert the whole frame to BGR for them, each tag or panel is drawn on a small patch: the patch is
cut out (aligned to the 2x2 chroma blocks), converted to BGR, drawn with the same code as the CPU
renderer (``labels.draw_tag``, ``hud.draw_panel``) and written back. Cost grows with the text, not
with the frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from streamseg.config import RenderConfig
from streamseg.gpu.palette import DEFAULT_PALETTE, Palette
from streamseg.gpu.picture import I420Picture
from streamseg.render.hud import HudAnnotator, draw_panel, hud_lines
from streamseg.render.labels import LabelAnnotator, draw_tag
from streamseg.render.scene import SceneAnnotator
from streamseg.types import SegResult, UInt8Array


class I420TextAnnotator:
    """Labels and the HUD onto an ``I420Picture``, looking as the CPU renderer draws them: a tracked
    instance's tag takes its track's colour, as its mask and box did on the device."""

    def __init__(self, config: RenderConfig, palette: Palette = DEFAULT_PALETTE) -> None:
        self.labels = LabelAnnotator(palette) if config.labels else None
        self.hud = HudAnnotator() if config.hud else None
        self.scene = SceneAnnotator(config.line_width)

    def later(
        self,
        result: SegResult,
        fps: float | None,
        latency_ms: float | None,
        record_stage: Callable[[str, float, str | None], None] | None = None,
    ) -> Callable[[I420Picture], None]:
        """The drawing as a ``pending`` callback for ``I420Picture`` (done by whoever uses it first),
        timed as the ``render`` stage."""

        def draw(picture: I420Picture) -> None:
            started = time.perf_counter()
            self.annotate(picture, result, fps, latency_ms)
            if record_stage is not None:
                record_stage("render", time.perf_counter() - started, result.source)

        return draw

    def annotate(
        self, picture: I420Picture, result: SegResult, fps: float | None, latency_ms: float | None
    ) -> I420Picture:
        w, h = picture.width, picture.height
        self.scene.annotate_i420(picture, result.scene)
        if self.labels is not None:
            for tag in self.labels.tags(result, w, h):
                picture.paint(
                    tag.left,
                    tag.top,
                    tag.left + tag.width,
                    tag.top + tag.height,
                    lambda patch, dx, dy, tag=tag: draw_tag(patch, tag, dx, dy),  # type: ignore[misc]
                )
        if self.hud is not None:
            panel = self.hud.panel(w, h, hud_lines(result.source, fps, latency_ms, len(result)))
            if panel is not None:
                picture.paint(
                    panel.x0,
                    panel.y0,
                    panel.x1,
                    panel.y1,
                    lambda patch, dx, dy: draw_panel(patch, panel, dx, dy),
                )
        return picture


def as_bgr(annotated: UInt8Array | I420Picture) -> UInt8Array:
    """A sink's view of an annotated frame as BGR, whichever form the render stage produced."""
    return annotated.bgr() if isinstance(annotated, I420Picture) else annotated
