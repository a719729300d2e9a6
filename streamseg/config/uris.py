"""Sources are clients: which URIs a run may open, and which would make it listen for others instead.

FFmpeg opens far more than cameras: ``tcp://0.0.0.0:9000?listen=1`` waits for anyone to push a stream
in, ``udp://@:5000`` takes whatever arrives on a port, ``srt://:9000`` is a listener, and protocols
such as ``concat:``, ``subfile:`` or ``ftp://`` read things no camera needs. A URI that reaches a run
from a config file, the command line or the dashboard's API must connect *out* to a camera or name a
local file; schemes are an allowlist, and binding a port needs ``sources.allow_listen: true``.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import parse_qsl, urlsplit

from streamseg.errors import ConfigError
from streamseg.redact import redact_uri

# Every scheme a camera, a stream or a file is reached by; anything else FFmpeg knows is refused.
ALLOWED_SCHEMES = frozenset(
    {"rtsp", "rtsps", "rtmp", "rtmps", "srt", "udp", "rtp", "http", "https", "tcp", "file"}
)
# Query keys that turn a client into a server, per FFmpeg's protocol options.
_LISTEN_KEYS = frozenset({"listen", "rtmp_listen", "tcp_listen"})
_RECEIVE_SCHEMES = frozenset({"udp", "rtp"})  # receive on a local port unless the address is multicast


def uri_scheme(uri: str) -> str:
    """The lower-case scheme of ``scheme://...``; ``""`` for a path, a webcam index or ``/dev/videoN``."""
    head, sep, _ = uri.partition("://")
    return head.lower() if sep and head and head[0].isalpha() and head.replace("+", "").isalnum() else ""


def listen_reason(uri: str) -> str | None:
    """Why opening ``uri`` would bind a port and wait for others, or None when it only connects out."""
    scheme = uri_scheme(uri)
    if not scheme:
        return None
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
    except ValueError:
        return None  # not a URL FFmpeg can open either; opening it reports that
    query = {k.lower(): v.lower() for k, v in parse_qsl(parts.query, keep_blank_values=True)}
    for key in _LISTEN_KEYS & query.keys():
        if query[key] not in ("0", "false"):
            return f"'{key}' makes it listen for a stream instead of connecting to one"
    if "listen" in query.get("rtsp_flags", ""):
        return "rtsp_flags=listen makes it wait for a camera to connect"
    if scheme == "srt":
        if query.get("mode") in ("listener", "rendezvous"):
            return f"SRT mode={query['mode']} binds a port"
        if _is_any_address(host):
            return "an SRT URL without a host is a listener"
    if scheme in _RECEIVE_SCHEMES and not _is_multicast(host):
        return f"{scheme}:// without a multicast group takes whatever anyone sends to a local port"
    return None


def check_client_uri(uri: str, allow_listen: bool = False) -> None:
    """Raise ``ConfigError`` (one line) for a scheme off the allowlist, or for a URI that would listen
    while ``sources.allow_listen`` is off."""
    scheme = uri_scheme(uri)
    if scheme and scheme not in ALLOWED_SCHEMES:
        raise ConfigError(
            f"source {redact_uri(uri)}: '{scheme}://' is not a camera or stream protocol "
            f"(allowed: {', '.join(sorted(ALLOWED_SCHEMES))})"
        )
    if not scheme and ":" in uri.split("/", 1)[0] and not _is_windows_drive(uri):
        raise ConfigError(
            f"source {redact_uri(uri)}: FFmpeg protocol prefixes ('{uri.split(':', 1)[0]}:') are not "
            "accepted; give a file path or a URL"
        )
    reason = None if allow_listen else listen_reason(uri)
    if reason is not None:
        raise ConfigError(
            f"source {redact_uri(uri)}: {reason}; sources connect to cameras "
            "(set sources.allow_listen: true, or --allow-listen, to accept pushed streams)"
        )


def _is_any_address(host: str) -> bool:
    if not host:
        return True
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _is_multicast(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_multicast
    except ValueError:
        return False  # a name: FFmpeg would bind locally to receive from it


def _is_windows_drive(uri: str) -> bool:
    return len(uri) >= 2 and uri[1] == ":" and uri[0].isalpha()
