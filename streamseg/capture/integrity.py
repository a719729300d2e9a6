"""What a video file says of itself (its index, its AVI header, its declared duration, its frame count and
rate), read when it opens, and the loss judged against it when it ends: a damaged file is played as far
as it decodes, then reported with how much is missing."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from streamseg.capture.base import SourceStats
from streamseg.capture.sniff import riff_shortfall

logger = logging.getLogger(__name__)

# Containers whose duration is written in the header by the muxer (not guessed from the bitrate).
_HEADER_DURATION_FORMATS = ("matroska", "webm", "flv")
_MOV_FORMATS = ("mov", "mp4")  # the sample table lists every packet exactly


@dataclass(frozen=True)
class FileRecords:
    """A file's own records of its size; all zero/None for a stream or a file that keeps none."""

    expected_packets: int = 0  # from the container's index at open time; 0 = unknown
    riff_missing: int = 0  # bytes an AVI's header promises beyond the end of the file
    declared_seconds: float | None = None  # header duration, for formats that store one

    @classmethod
    def read(cls, path: Path, container: av.container.InputContainer, stream: av.VideoStream) -> FileRecords:
        """The records of an opened file; warns at once about a file cut short."""
        fmt = container.format.name
        declared = None
        if container.duration and any(f in fmt.split(",") for f in _HEADER_DURATION_FORMATS):
            declared = container.duration / av.time_base
        records = cls(len(stream.index_entries), riff_shortfall(path), declared)
        size = path.stat().st_size
        beyond = sum(1 for e in stream.index_entries if e.pos + e.size > size)
        if beyond:
            logger.warning(
                "%s: %d of %d frames lie past the end of the file", path, beyond, records.expected_packets
            )
        if records.riff_missing:
            logger.warning(
                "%s: file is %d bytes shorter than its AVI header says", path, records.riff_missing
            )
        return records

    def damage(
        self, n: int, packets_read: int, stats: SourceStats, covered_s: float, frame_count: int | None
    ) -> str | None:
        """What was lost after ``n`` decoded frames (``covered_s``: up to where the picture reached), judged
        against every record the file keeps of itself; ``None`` if nothing."""
        missing_packets = max(0, self.expected_packets - packets_read)
        failed = stats.decode_errors + missing_packets
        if failed:
            lost = max(failed, self.expected_packets - n) if self.expected_packets else failed
            return f"{lost} could not be decoded"
        if self.riff_missing:
            return f"the file ends {self.riff_missing} bytes early"
        declared = self.declared_seconds
        if declared is not None and covered_s < declared - max(1.0, 0.05 * declared):
            return f"the video stops at {covered_s:.1f} s of {declared:.1f} s"
        if stats.damaged_frames:
            # The estimate is only trusted to size the loss once damage is certain (VFR skews it).
            short = (frame_count or 0) - n
            missing = f", about {short} missing" if short > max(2, 0.02 * n) else ""
            return f"{stats.damaged_frames} of them damaged{missing}"
        return None


def estimate_count_and_rate(
    container: av.container.InputContainer, stream: av.VideoStream, tb: Fraction
) -> tuple[int | None, float | None]:
    """Frames to expect and the effective rate; containers' own counts are trusted only when sane.

    MP4 sample tables are exact. Other headers can lie (the AVI in the test assets claims 682 frames at
    50 fps and holds 341 at 25), so their count must agree with duration x frame rate.
    """
    duration_s: float | None = None
    if stream.duration:
        duration_s = float(stream.duration * tb)
    elif container.duration:
        duration_s = container.duration / av.time_base
    rate = stream.guessed_rate or stream.average_rate
    by_time = round(duration_s * float(rate)) if duration_s and rate else None
    frames = stream.frames if stream.frames and stream.frames > 0 else None
    is_mov = any(f in container.format.name.split(",") for f in _MOV_FORMATS)
    if frames is not None and (is_mov or by_time is None or abs(frames - by_time) <= 0.1 * frames):
        count: int | None = frames
    else:
        count = by_time if by_time and by_time > 0 else None
    if count and duration_s:
        fps: float | None = count / duration_s
    elif stream.average_rate:
        fps = float(stream.average_rate)
    else:
        fps = float(rate) if rate else None
    return count, fps
