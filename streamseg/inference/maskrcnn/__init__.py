"""Mask R-CNN (torchvision's, two-stage) run from ONNX: boxes, labels, scores and box-sized masks."""

from __future__ import annotations
