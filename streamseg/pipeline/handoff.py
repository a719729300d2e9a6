"""Results handed to the Python API's consumer: their frames may move to the host when GPU memory is
short (``gpu.spill``), so a consumer that keeps results does not keep the device's memory."""

from __future__ import annotations

from streamseg.gpu.spill import hand_over
from streamseg.types import SegResult


def handed_over(result: SegResult) -> SegResult:
    """``result`` as it goes to the consumer, its frame marked as done with by the pipeline."""
    if result.frame.surface is not None:
        hand_over(result.frame)
    return result
