"""What the inference thread drives: frames in, one ``SegResult`` per frame out, in order.

YOLO (``engine.SegmentationEngine``), Mask R-CNN (``maskrcnn.engine``) and SAM refinement wrapped around
either (``sam.stage``) all meet this, so the pipeline does not care which model family runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from streamseg.types import Frame, SegResult

if TYPE_CHECKING:
    from streamseg.inference.yolo.engine import PendingResult


class Segmenter(Protocol):
    @property
    def class_names(self) -> Sequence[str]:
        """The model's classes, by class id (what ``--privacy`` and zones' classes name)."""
        ...

    def run(self, frames: Sequence[Frame]) -> list[SegResult]:
        """Segment a batch; results in the order of ``frames``."""
        ...

    def submit(self, frames: Sequence[Frame]) -> Sequence[SegResult | PendingResult]:
        """What the inference thread calls: like ``run``, but results of a GPU batch may still be
        finishing (``PendingResult``; the render thread resolves them)."""
        ...

    def close(self) -> None:
        """Release the runtime."""
        ...
