"""``--publish URL``: where each source's annotated video is pushed (a media server, a VMS), and the
checks on that URL that need no network: its scheme, its host, its transport."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from streamseg.errors import ConfigError
from streamseg.redact import redact_uri, safe_name

# scheme -> FFmpeg muxer: RTSP ANNOUNCE/RECORD, RTMP (FLV), SRT caller (MPEG-TS)
PUBLISH_FORMATS = {"rtsp": "rtsp", "rtsps": "rtsp", "rtmp": "flv", "rtmps": "flv", "srt": "mpegts"}
TRANSPORTS = ("tcp", "udp")


def check_publish_url(url: str, transport: str = "tcp") -> None:
    """One line (credentials masked) for a URL that cannot be published to, before any connection."""
    shown = redact_uri(url)
    try:
        parts = urlsplit(url.replace("{source}", "x"))
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"--publish: {exc} ({shown})") from None
    scheme = parts.scheme.lower()
    if scheme not in PUBLISH_FORMATS:
        allowed = ", ".join(f"{s}://" for s in PUBLISH_FORMATS)
        raise ConfigError(f"--publish: unsupported scheme {scheme or '(none)'!r} in {shown} (use {allowed})")
    if not parts.hostname:
        raise ConfigError(f"--publish: no host in {shown}")
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"--publish: port must be 1..65535 in {shown}")
    if transport not in TRANSPORTS:
        raise ConfigError(f"--publish-transport must be tcp or udp, got {transport!r}")


def publish_url_for(template: str, source: str) -> str:
    """The URL of one source: ``{source}`` becomes its name, made safe for a URL path."""
    return template.replace("{source}", re.sub(r"[^A-Za-z0-9_.-]", "_", safe_name(source)))
