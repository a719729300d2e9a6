"""Stage runner: capture threads -> inference thread -> render/write thread, joined by bounded queues."""

from __future__ import annotations

from streamseg.pipeline.runner import Pipeline

__all__ = ["Pipeline"]
