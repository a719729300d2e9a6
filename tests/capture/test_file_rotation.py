"""Display rotation (phone videos) and files that open but hold no decodable frame."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from streamseg.capture import PyAVFileSource
from streamseg.errors import SourceError

from .media import PEDESTRIANS, clip, truncated_copy, write_irregular_video

# tkhd matrix of a phone held upright: "turn 90 degrees clockwise to display" (ffprobe: rotation -90).
_ROTATE_CW_MATRIX = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)


def with_display_matrix(path: Path, matrix: bytes) -> Path:
    """Patch the (version 0) track header's matrix, as a phone's muxer would have written it."""
    data = bytearray(path.read_bytes())
    box = data.index(b"tkhd") - 4
    assert data[box + 8] == 0, "expects a version-0 tkhd"
    data[box + 48 : box + 84] = matrix
    path.write_bytes(bytes(data))
    return path


def test_rotated_video_is_delivered_upright(tmp_path: Path) -> None:
    """A 96x64 picture whose bright column marks the left edge must come out 64x96, marker on top."""
    path = write_irregular_video(tmp_path / "phone.mp4", [0.0, 0.1, 0.2], size_wh=(96, 64))
    with_display_matrix(path, _ROTATE_CW_MATRIX)
    with PyAVFileSource(str(path)) as src:
        assert src.resolution_wh == (64, 96)  # known at open, already rotated
        frame = src.read()
    assert frame is not None
    assert frame.image.shape == (96, 64, 3)
    assert frame.image.flags.c_contiguous
    # Frame 0's bright column is x=0 (left edge); turned clockwise the left edge becomes the top row.
    assert frame.image[0].mean() > 200
    assert frame.image[-1].mean() < 100


def test_file_with_an_index_but_no_frames(tmp_path: Path) -> None:
    """Cut right after the moov atom: FFmpeg opens it, but there is nothing to decode."""
    src = clip(PEDESTRIANS)
    cut = truncated_copy(src, tmp_path / "headers_only.mp4", 5000 / src.stat().st_size)
    with pytest.raises(SourceError, match="not a playable video \\(no frame could be decoded"):
        PyAVFileSource(str(cut)).open()
