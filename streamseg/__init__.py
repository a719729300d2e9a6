"""streamseg: real-time instance segmentation of live video.

from streamseg import Pipeline
for result in Pipeline(sources=["street.mp4"], model="yolov8n-seg.pt").results():
    print(result.source, result.frame_index, len(result))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Config", "Frame", "InstanceMasks", "Pipeline", "SegResult", "__version__"]

if TYPE_CHECKING:
    from streamseg.config import Config
    from streamseg.pipeline import Pipeline
    from streamseg.types import Frame, InstanceMasks, SegResult


def __getattr__(name: str) -> Any:
    """Lazy re-exports: ``import streamseg`` stays cheap for the CLI's ``--help``."""
    if name == "Pipeline":
        from streamseg.pipeline import Pipeline  # noqa: PLC0415

        return Pipeline
    if name == "Config":
        from streamseg.config import Config  # noqa: PLC0415

        return Config
    if name in ("Frame", "InstanceMasks", "SegResult"):
        from streamseg import types  # noqa: PLC0415

        return getattr(types, name)
    raise AttributeError(f"module 'streamseg' has no attribute {name!r}")
