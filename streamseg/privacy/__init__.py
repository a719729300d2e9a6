"""Hiding people and places by their masks: regions (grown mask crops, zone polygons) and the CPU ``Hider``
that blurs, pixelates or fills them, computed frame-globally so a GPU twin can match it bit for bit."""

from __future__ import annotations

from streamseg.privacy.hider import Hider
from streamseg.privacy.regions import Region, area_region, grown, grown_many, mask_regions
from streamseg.privacy.styles import FILL_BGR, STYLES, block_size

__all__ = [
    "FILL_BGR",
    "STYLES",
    "Hider",
    "Region",
    "area_region",
    "block_size",
    "grown",
    "grown_many",
    "mask_regions",
]
