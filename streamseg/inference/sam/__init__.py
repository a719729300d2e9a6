"""Segment Anything (SAM, MobileSAM, SAM 2): prompts in, one mask per prompt out.

Used three ways: ``streamseg segment`` (one image, prompts from the command line), ``--refine`` (each
frame's detections become box prompts) and dashboard clicks (point prompts per source). The networks are
Ultralytics' own module definitions; what is ours is loading, prompt batching and box-sized masks.
"""

from __future__ import annotations

from streamseg.inference.sam.checkpoints import load_sam_network, resolve_sam_checkpoint
from streamseg.inference.sam.predictor import SamOutput, SamPredictor
from streamseg.inference.sam.prompts import Prompt, parse_boxes, parse_points

__all__ = [
    "Prompt",
    "SamOutput",
    "SamPredictor",
    "load_sam_network",
    "parse_boxes",
    "parse_points",
    "resolve_sam_checkpoint",
]
