"""Webcam error path (no camera on CI) and routing of URIs to sources."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from streamseg.capture import (
    LiveSource,
    PyAVFileSource,
    WebcamSource,
    create_source,
    open_source,
    parse_webcam_uri,
)
from streamseg.capture.factory import ffmpeg_options
from streamseg.config import LiveConfig, SourceConfig
from streamseg.errors import SourceError, SourceNotFoundError

from .media import OFFICE_VFR, clip


@pytest.mark.parametrize(("uri", "label"), [("57", "webcam 57"), ("/dev/video57", "webcam /dev/video57")])
def test_missing_webcam_fails_fast_with_one_line(uri: str, label: str) -> None:
    src = create_source(SourceConfig(uri=uri))
    assert isinstance(src, LiveSource)  # reconnects once it has worked; the first open fails fast
    assert src.is_live and src.frame_count is None
    started = time.monotonic()
    with pytest.raises(SourceError, match=f"^{label} could not be opened") as info:
        src.open()
    assert time.monotonic() - started < 2.0
    assert "\n" not in str(info.value)


def test_opencv_itself_reports_a_missing_camera_quickly() -> None:
    """Past our /dev check (other OSes, or a node that vanishes): OpenCV must not hang either."""
    src = WebcamSource(57)
    started = time.monotonic()
    cap = src._create_capture()
    assert not cap.isOpened()
    cap.release()
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    ("uri", "expected"),
    [("0", 0), ("12", 12), ("/dev/video3", "/dev/video3"), ("video.mp4", None), ("rtsp://cam/1", None)],
)
def test_parse_webcam_uri(uri: str, expected: int | str | None) -> None:
    assert parse_webcam_uri(uri) == expected


def test_open_source_opens_a_file_with_its_display_name() -> None:
    src = open_source(SourceConfig(uri=str(clip(OFFICE_VFR))))
    try:
        assert isinstance(src, PyAVFileSource)
        assert src.name == "office_person_720p_vfr"
        assert src.resolution_wh == (1280, 720)
        frame = src.read()
        assert frame is not None and frame.source == "office_person_720p_vfr"
    finally:
        src.close()


def test_open_source_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="video file not found"):
        open_source(SourceConfig(uri=str(tmp_path / "missing.mp4"), name="x"))


@pytest.mark.parametrize("uri", ["rtsp://127.0.0.1:9/stream", "https://example.invalid/clip.mp4"])
def test_urls_go_to_pyav(uri: str) -> None:
    src = create_source(SourceConfig(uri=uri))
    # RTSP reconnects (PyAV inside); HTTP(S) is opened directly and wrapped only if it turns out live.
    assert isinstance(src, LiveSource if uri.startswith("rtsp") else PyAVFileSource)
    assert src.is_live is uri.startswith("rtsp")


def test_ffmpeg_options_bound_every_network_read() -> None:
    rtsp = ffmpeg_options("rtsp://cam/x", LiveConfig(rtsp_transport="udp"), 2.5)
    assert rtsp["rtsp_transport"] == "udp" and rtsp["timeout"] == "2500000"
    assert ffmpeg_options("https://cam/live.m3u8", LiveConfig(), 1.0) == {"rw_timeout": "1000000"}
    assert ffmpeg_options("street.mp4", LiveConfig(), 1.0) == {}


def test_rtsp_open_never_blocks_the_caller() -> None:
    """A camera that is down at start-up is retried in the capture thread, not in open()."""
    started = time.monotonic()
    src = open_source(SourceConfig(uri="rtsp://127.0.0.1:9/stream"))
    assert time.monotonic() - started < 0.5
    assert isinstance(src, LiveSource) and src.health == "connecting"
    src.close()


def test_unreachable_url_fails_quickly_with_one_line() -> None:
    """Port 9 on localhost refuses connections: an error, not a hang."""
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"^cannot open stream http://127\.0\.0\.1:9/x\.mp4"):
        open_source(SourceConfig(uri="http://127.0.0.1:9/x.mp4"))
    assert time.monotonic() - started < 5.0
