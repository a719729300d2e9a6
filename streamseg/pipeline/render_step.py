"""The render thread's per-result work: finish the result, draw it, hand sinks what they need.

Two kinds of item arrive from inference. A finished ``SegResult`` (the NumPy path) is drawn on the
host (``FrameAnnotator``) when a sink needs the picture. A ``PendingResult`` (the device path) is
resolved first: that waits for its batch's device work, whose overlay already drew masks and boxes
and converted the frame to yuv420p; the labels and the HUD (text) are left for the source's own encoder
thread to draw (``I420Picture.finish``), so the one render thread keeps up with many sources. Where no
output needs every frame the device draws nothing, and a frame someone watches live is drawn here on
the host (its picture and masks copied down for it alone). A source that hides people or places
(``privacy``) is drawn on the host too, on its hidden frame: hiding in the device's graph body is not
built yet, so on a GPU it costs one BGR download of each frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from streamseg.config import RenderConfig
from streamseg.gpu.picture import I420Picture
from streamseg.inference.yolo.engine import PendingResult
from streamseg.pipeline.carry import CarriedFrame, Carrier
from streamseg.privacy.step import PrivacyStep
from streamseg.render.annotate import FrameAnnotator
from streamseg.render.i420 import I420TextAnnotator
from streamseg.telemetry import Telemetry
from streamseg.types import SegResult, UInt8Array

Annotated = UInt8Array | I420Picture


class RenderStep:
    """``step(item)`` -> (finished result, annotated picture or None, the telemetry stage the step's
    time belongs to); ``draw(source)``: a sink needs this source's picture now (always, for recordings;
    while watched, for the live view).

    The stage is ``render`` for drawing on the host, and ``resolve`` for collecting a device batch (the
    render thread waiting for the GPU); the text drawn later on a device picture is timed as ``render``
    by the thread that draws it.
    """

    def __init__(
        self,
        config: RenderConfig,
        telemetry: Telemetry,
        draw: Callable[[str], bool],
        scene: Callable[[SegResult], SegResult] | None = None,
        privacy: PrivacyStep | None = None,
        carrier: Carrier | None = None,
    ) -> None:
        """``scene``: tracks, zones and events of a result (``scene_step.SceneStep``), before drawing;
        ``privacy``: then the frame of a source that hides people or places is replaced by the hidden
        picture, before anything draws or reads it; ``carrier``: a frame the network did not see
        (``CarriedFrame``) gets its source's latest result, remembered here from each inferred one."""
        self._telemetry = telemetry
        self._scene = scene
        self._privacy = privacy
        self._carrier = carrier
        self._draw = draw
        self._host = FrameAnnotator(config, copy=True)  # results() hands out the clean frame
        self._text = I420TextAnnotator(config)

    def __call__(
        self, item: SegResult | PendingResult | CarriedFrame
    ) -> tuple[SegResult, Annotated | None, str]:
        if isinstance(item, CarriedFrame):  # drawn on the host (a device frame comes down for it)
            if self._carrier is None:
                raise RuntimeError("a carried frame, and no carrier: the frame selection needs one")
            item = self._carrier.carry(item.frame)
            if self._privacy is not None:
                item = self._privacy(item)
            if not self._draw(item.source):
                return item, None, "render"
            fps, age_ms = self._hud_values(item)
            return item, self._host.annotate(item, fps, age_ms), "render"
        if isinstance(item, PendingResult):
            result, picture = item.resolve()
            result = self._finish(result)
            if result.privacy is not None:
                picture = None  # drawn on the device before hiding: drawn again on the hidden frame
            if not self._draw(result.source):
                return result, None, "resolve"
            if picture is None:  # the device drew nothing (no output needs every frame): a viewer's
                fps, age_ms = self._hud_values(result)
                return result, self._host.annotate(result, fps, age_ms), "render"
            fps, age_ms = self._hud_values(result)
            # text is drawn by whoever uses the picture first (the source's encoder thread)
            later = self._text.later(result, fps, age_ms, self._telemetry.record_stage)
            return result, I420Picture(picture.numpy(), picture, later), "resolve"
        item = self._finish(item)
        if not self._draw(item.source):
            return item, None, "render"
        fps, age_ms = self._hud_values(item)
        return item, self._host.annotate(item, fps, age_ms), "render"

    def _finish(self, result: SegResult) -> SegResult:
        if self._scene is not None:
            result = self._scene(result)
        if self._carrier is not None:
            self._carrier.remember(result)
        if self._privacy is not None:
            result = self._privacy(result)
        return result

    def _hud_values(self, result: SegResult) -> tuple[float, float]:
        age_ms = (time.monotonic() - result.frame.capture_time) * 1000
        return self._telemetry.fps(result.source), age_ms
