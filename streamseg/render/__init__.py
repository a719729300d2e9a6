"""Drawing results onto frames and recording them: annotators, the HUD, and the H.264 writer."""

from __future__ import annotations

from streamseg.render.annotate import FrameAnnotator
from streamseg.render.boxes import BoxAnnotator
from streamseg.render.hud import HudAnnotator
from streamseg.render.labels import LabelAnnotator
from streamseg.render.masks import MaskAnnotator
from streamseg.render.palette import DEFAULT_PALETTE, Palette
from streamseg.render.writer import VideoWriter, record_path_for

__all__ = [
    "DEFAULT_PALETTE",
    "BoxAnnotator",
    "FrameAnnotator",
    "HudAnnotator",
    "LabelAnnotator",
    "MaskAnnotator",
    "Palette",
    "VideoWriter",
    "record_path_for",
]
