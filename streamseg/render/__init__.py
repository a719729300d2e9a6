"""Drawing results onto frames: the annotators (masks, boxes, labels, HUD) and still-image outputs."""

from __future__ import annotations

from streamseg.render.annotate import FrameAnnotator
from streamseg.render.boxes import BoxAnnotator
from streamseg.render.hud import HudAnnotator
from streamseg.render.labels import LabelAnnotator
from streamseg.render.masks import MaskAnnotator

__all__ = [
    "BoxAnnotator",
    "FrameAnnotator",
    "HudAnnotator",
    "LabelAnnotator",
    "MaskAnnotator",
]
