"""Pick and open the right source for a configured URI.

Files go straight to PyAV; still images (a file, a folder, a glob) to ``ImageSource``. Cameras and
streams are wrapped in ``LiveSource``, which reconnects:
RTSP/RTMP/SRT/UDP connect lazily in the capture thread (a camera that is down at start-up is retried
without holding up the others); webcams and HTTP(S) URLs are opened at once, so a typo or a missing
device is reported immediately, and only an HTTP URL that turns out live (HLS, MJPEG) is wrapped.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from streamseg.capture.base import FrameSource
from streamseg.capture.images import ImageSource, is_image_uri
from streamseg.capture.live import LiveSource, ReconnectPolicy
from streamseg.capture.pyav_file import LIVE_SCHEMES, PyAVFileSource
from streamseg.capture.webcam import WebcamSource, parse_webcam_uri
from streamseg.config import LiveConfig, SourceConfig
from streamseg.gpu.decode import DecodeTarget

# How long a network source may stay silent while opening or reading before it is reconnected.
NETWORK_TIMEOUT_S = 5.0


def ffmpeg_options(uri: str, live: LiveConfig, timeout_s: float) -> dict[str, str]:
    """FFmpeg's own socket timeout (so a frozen server cannot block a read) and the RTSP transport."""
    scheme = urlsplit(uri).scheme.lower() if "://" in uri else ""
    micros = str(round(timeout_s * 1_000_000))
    if scheme in ("rtsp", "rtsps"):
        # analyzeduration: probing 0.5 s, not 5 s, brings the first frame (and each reconnect) ~1.3 s sooner
        return {"rtsp_transport": live.rtsp_transport, "timeout": micros, "analyzeduration": "500000"}
    if scheme in ("http", "https", "rtmp", "rtmps", "tcp"):
        return {"rw_timeout": micros}
    return {}


def policy_from(live: LiveConfig) -> ReconnectPolicy:
    return ReconnectPolicy(
        initial_s=live.reconnect_initial_s,
        max_s=live.reconnect_max_s,
        jitter=live.reconnect_jitter,
        max_retries=live.max_retries,
        stall_s=live.stall_s,
    )


def create_source(
    cfg: SourceConfig,
    live: LiveConfig | None = None,
    timeout_s: float = NETWORK_TIMEOUT_S,
    decode: DecodeTarget | None = None,
) -> FrameSource:
    """The source object for ``cfg``, not yet opened (cheap; never touches the device or file).

    ``decode``: files and streams decode into surfaces on that device (webcams always give host
    frames: OpenCV hands them over as BGR)."""
    live = live or LiveConfig()
    name = cfg.display_name()
    device = parse_webcam_uri(cfg.uri)
    if device is not None:

        def webcam() -> FrameSource:
            return WebcamSource(
                device,
                name=name,
                width=cfg.width or None,
                height=cfg.height or None,
                fps=cfg.fps or None,
                timeout_s=timeout_s,
            )

        return LiveSource(webcam, name=name, uri=cfg.uri, policy=policy_from(live), eager=True)
    if is_image_uri(cfg.uri):  # a picture, a folder of them, or a glob: one frame per image
        return ImageSource(cfg.uri, name=name)
    scheme = urlsplit(cfg.uri).scheme.lower() if "://" in cfg.uri else ""
    options = ffmpeg_options(cfg.uri, live, timeout_s)

    # Camera streams decode on live.decoder_threads (1: frame threads would each add a frame of delay,
    # and restart with every reconnect); files and HTTP keep FFmpeg's choice, for throughput.
    threads = live.decoder_threads if scheme in LIVE_SCHEMES else 0

    def stream() -> FrameSource:
        return PyAVFileSource(
            cfg.uri,
            name=name,
            open_timeout_s=timeout_s,
            read_timeout_s=timeout_s,
            threads=threads,
            options=options,
            decode=decode,
        )

    if scheme in LIVE_SCHEMES:
        return LiveSource(stream, name=name, uri=cfg.uri, policy=policy_from(live))
    # Files and every other URL FFmpeg understands (http(s)://, HLS, ...) go through PyAV directly.
    return stream()


def open_source(
    cfg: SourceConfig,
    live: LiveConfig | None = None,
    timeout_s: float = NETWORK_TIMEOUT_S,
    decode: DecodeTarget | None = None,
) -> FrameSource:
    """Create and open the source, so a bad input fails here, before any thread starts.

    Raises ``SourceNotFoundError`` for a missing file and ``SourceError`` for anything unplayable.
    An HTTP(S) stream that turns out to be live (no duration: HLS, MJPEG) comes back reconnecting.
    """
    live = live or LiveConfig()
    source = create_source(cfg, live, timeout_s, decode)
    source.open()
    if isinstance(source, PyAVFileSource) and source.is_live and "://" in cfg.uri:

        def again() -> FrameSource:
            return create_source(cfg, live, timeout_s, decode)

        return LiveSource(again, name=source.name, uri=cfg.uri, policy=policy_from(live), inner=source)
    return source
