"""Recognise a video container from its first bytes, to tell "truncated video" from "not a video"."""

from __future__ import annotations

from pathlib import Path

_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (4, b"ftyp", "MP4/MOV"),
    (4, b"moov", "MP4/MOV"),
    (4, b"mdat", "MP4/MOV"),
    (4, b"free", "MP4/MOV"),
    (4, b"wide", "MP4/MOV"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
    (0, b"FLV", "FLV"),
    (0, b"OggS", "Ogg"),
    (0, b"\x00\x00\x01\xba", "MPEG-PS"),
)


def sniff_container(path: Path) -> str | None:
    """The container family a file's header claims, or ``None`` when it does not look like video."""
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if len(head) >= 1 and head[0] == 0x47 and _looks_like_ts(path):
        return "MPEG-TS"
    for offset, magic, family in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return family
    return None


def _looks_like_ts(path: Path) -> bool:
    """MPEG-TS has a 0x47 sync byte every 188 bytes; one byte alone is too weak a signal."""
    with path.open("rb") as fh:
        data = fh.read(188 * 4)
    return len(data) >= 188 * 2 and all(data[i] == 0x47 for i in range(0, len(data) - 187, 188))


def riff_shortfall(path: Path) -> int:
    """Bytes an AVI's RIFF header promises beyond the end of the file (0 when whole or not AVI).

    A cut AVI loses its index with its tail, so FFmpeg plays it to the cut without complaint; the
    RIFF size field in the first 8 bytes is the only record of how long the file should be.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
        size = path.stat().st_size
    except OSError:
        return 0
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"AVI ":
        return 0
    declared = int.from_bytes(head[4:8], "little") + 8
    return max(0, declared - size)
