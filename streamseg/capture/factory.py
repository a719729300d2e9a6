"""Pick and open the right source for a configured URI."""

from __future__ import annotations

from streamseg.capture.base import FrameSource
from streamseg.capture.pyav_file import PyAVFileSource
from streamseg.capture.webcam import WebcamSource, parse_webcam_uri
from streamseg.config import SourceConfig

# How long a network source may stay silent while opening or reading before SourceTimeout.
NETWORK_TIMEOUT_S = 10.0


def create_source(cfg: SourceConfig) -> FrameSource:
    """The source object for ``cfg``, not yet opened (cheap; never touches the device or file)."""
    name = cfg.display_name()
    device = parse_webcam_uri(cfg.uri)
    if device is not None:
        return WebcamSource(device, name=name, timeout_s=NETWORK_TIMEOUT_S)
    # Files and every URL FFmpeg understands (rtsp://, http(s)://, ...) go through PyAV.
    return PyAVFileSource(
        cfg.uri, name=name, open_timeout_s=NETWORK_TIMEOUT_S, read_timeout_s=NETWORK_TIMEOUT_S
    )


def open_source(cfg: SourceConfig) -> FrameSource:
    """Create and open the source, so a bad input fails here, before any thread starts.

    Raises ``SourceNotFoundError`` for a missing file and ``SourceError`` for anything unplayable.
    """
    source = create_source(cfg)
    source.open()
    return source
