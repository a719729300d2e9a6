"""What the inference thread drives: frames in, one ``SegResult`` per frame out, in order.

YOLO (``engine.SegmentationEngine``), Mask R-CNN (``maskrcnn.engine``) and SAM refinement wrapped around
either (``sam.stage``) all meet this, so the pipeline does not care which model family runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from streamseg.types import Frame, SegResult


class Segmenter(Protocol):
    def run(self, frames: Sequence[Frame]) -> list[SegResult]:
        """Segment a batch; results in the order of ``frames``."""
        ...

    def close(self) -> None:
        """Release the runtime."""
        ...
