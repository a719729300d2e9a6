"""Damaged videos: deliver what decodes, then one clear ``DecodeError``; unopenable files fail at open."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamseg.capture import PyAVFileSource
from streamseg.errors import DecodeError, SourceError, SourceNotFoundError

from .media import (
    AERIAL_AVI,
    HIGHWAY,
    PEDESTRIANS,
    clip,
    decode_all,
    garbled_copy,
    remux,
    strictly_increasing,
    truncated_copy,
)


def moov_offset(path: Path) -> int:
    """Byte offset of the top-level ``moov`` atom."""
    data = path.read_bytes()
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        if data[pos + 4 : pos + 8] == b"moov":
            return pos
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        if size < 8:
            break
        pos += size
    raise AssertionError(f"no moov atom in {path}")


def assert_one_line(exc: BaseException, path: Path) -> None:
    text = str(exc)
    assert "\n" not in text
    assert str(path) in text


def test_mp4_cut_before_its_moov_cannot_open(tmp_path: Path) -> None:
    """moov at the end: half the file has no index at all, so nothing is playable."""
    src = clip(HIGHWAY)
    assert moov_offset(src) > src.stat().st_size // 2
    cut = truncated_copy(src, tmp_path / "cut.mp4", 0.5)
    with pytest.raises(SourceError, match=r"not a playable video \(truncated") as info:
        PyAVFileSource(str(cut)).open()
    assert not isinstance(info.value, DecodeError)
    assert_one_line(info.value, cut)


@pytest.mark.parametrize("how", ["shipped-faststart", "remuxed-faststart"])
def test_faststart_mp4_cut_in_half_delivers_first_half_then_decode_error(tmp_path: Path, how: str) -> None:
    if how == "shipped-faststart":
        src = clip(PEDESTRIANS)
        total = 314
    else:
        src = remux(clip(HIGHWAY), tmp_path / "faststart.mp4", movflags="+faststart")
        total = 268
    assert moov_offset(src) < 100
    cut = truncated_copy(src, tmp_path / "cut.mp4", 0.5)
    d = decode_all(cut)
    assert d.error is not None
    assert_one_line(d.error, cut)
    n = len(d.pts)
    assert total * 0.3 < n < total * 0.6
    assert f"truncated or corrupt video: decoded {n} frames, {total - n} could not be decoded" in str(d.error)
    assert strictly_increasing(d.pts)
    assert d.frame_count == total  # the sample table still describes the whole clip


def test_intact_remuxed_mp4_is_not_a_false_alarm(tmp_path: Path) -> None:
    d = decode_all(remux(clip(HIGHWAY), tmp_path / "faststart.mp4", movflags="+faststart"))
    assert d.error is None
    assert len(d.pts) == 268


def test_garbage_in_the_middle_of_an_mp4(tmp_path: Path) -> None:
    bad = garbled_copy(clip(PEDESTRIANS), tmp_path / "garbled.mp4", 0.5, 20_000)
    d = decode_all(bad)
    assert d.error is not None
    assert_one_line(d.error, bad)
    assert len(d.pts) >= 290  # only the damaged frames are lost
    assert d.decode_errors >= 1
    assert f"decoded {len(d.pts)} frames" in str(d.error)
    assert strictly_increasing(d.pts)


def test_garbage_in_the_middle_of_an_avi(tmp_path: Path) -> None:
    """The AVI demuxer silently skips the damaged chunks; comparing with its index catches the loss."""
    bad = garbled_copy(clip(AERIAL_AVI), tmp_path / "garbled.avi", 0.5, 20_000)
    d = decode_all(bad)
    assert d.error is not None
    assert 300 <= len(d.pts) < 341
    assert f"decoded {len(d.pts)} frames, {341 - len(d.pts)} could not be decoded" in str(d.error)


def test_avi_cut_in_half(tmp_path: Path) -> None:
    """A cut AVI loses its index; the RIFF size in its header still shows the file is short."""
    cut = truncated_copy(clip(AERIAL_AVI), tmp_path / "cut.avi", 0.5)
    d = decode_all(cut)
    assert 100 < len(d.pts) < 200
    assert d.error is not None
    assert_one_line(d.error, cut)
    assert "bytes early" in str(d.error)


def test_decode_error_is_raised_once_then_end_of_stream(tmp_path: Path) -> None:
    cut = truncated_copy(clip(PEDESTRIANS), tmp_path / "cut.mp4", 0.5)
    with PyAVFileSource(str(cut)) as src:
        with pytest.raises(DecodeError):
            while src.read() is not None:
                pass
        assert src.read() is None


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(SourceNotFoundError, match="video file not found") as info:
        PyAVFileSource(str(missing)).open()
    assert isinstance(info.value, FileNotFoundError)
    assert_one_line(info.value, missing)


@pytest.mark.parametrize(
    ("filename", "content"),
    [
        ("notes.txt", b"hello\n" * 10),
        ("readme.txt", b"Lorem ipsum dolor sit amet " * 2000),  # FFmpeg would render this as ANSI art
        ("fake.mp4", b"\x00\x01\x02\x03 definitely not a video"),
        ("empty.mp4", b""),
    ],
)
def test_files_that_are_not_video(tmp_path: Path, filename: str, content: bytes) -> None:
    path = tmp_path / filename
    path.write_bytes(content)
    with pytest.raises(SourceError, match="is not a video file") as info:
        PyAVFileSource(str(path)).open()
    assert_one_line(info.value, path)


def test_still_image_is_not_a_video() -> None:
    image = clip(AERIAL_AVI).parents[1] / "images" / "bus.jpg"
    if not image.is_file():
        pytest.skip(f"missing {image}")
    with pytest.raises(SourceError, match=r"is not a video file \(it is a still image"):
        PyAVFileSource(str(image)).open()


def test_directory_is_not_a_video(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="is a directory") as info:
        PyAVFileSource(str(tmp_path)).open()
    assert not isinstance(info.value, SourceNotFoundError)


def test_matroska_cut_in_half_is_caught_by_its_declared_duration(tmp_path: Path) -> None:
    """Matroska has no frame table; the duration its header declares is what shows the loss."""
    mkv = remux(clip(HIGHWAY), tmp_path / "clip.mkv")
    intact = decode_all(mkv)
    assert intact.error is None and len(intact.pts) == 268
    cut = decode_all(truncated_copy(mkv, tmp_path / "cut.mkv", 0.5))
    assert 100 < len(cut.pts) < 160
    assert cut.error is not None
    assert "the video stops at 4." in str(cut.error) and "of 8.9 s" in str(cut.error)
