"""The encoder threads' room: one recorder thread per recorded source, the fragmented H.264 writer,
and the choice of encoder."""

from __future__ import annotations

from streamseg.record.writer import VideoWriter, record_path_for

__all__ = ["VideoWriter", "record_path_for"]
