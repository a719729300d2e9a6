"""``--publish URL``: where each source's annotated video is pushed (a media server, a VMS), and the
checks on that URL that need no network: its scheme, its host, its transport.

No error line quotes the URL: one that did not parse may hold its password where the host or the port
should be (an unencoded '#', '/', '?' or space in it). The status shows it through ``redact_url``
(stream keys, query values and user names masked)."""

from __future__ import annotations

from urllib.parse import urlsplit

from streamseg.errors import ConfigError
from streamseg.redact import safe_name, url_shape_problem

# scheme -> FFmpeg muxer: RTSP ANNOUNCE/RECORD, RTMP (FLV), SRT caller (MPEG-TS)
PUBLISH_FORMATS = {"rtsp": "rtsp", "rtsps": "rtsp", "rtmp": "flv", "rtmps": "flv", "srt": "mpegts"}
TRANSPORTS = ("tcp", "udp")


def check_publish_url(url: str, transport: str = "tcp") -> None:
    """One line for a URL that cannot be published to, before any connection; it never quotes the URL."""
    allowed = ", ".join(f"{s}://" for s in PUBLISH_FORMATS)
    shape = url_shape_problem(url)
    if shape is not None:
        raise ConfigError(f"--publish: {shape}")
    head, sep, _ = url.partition("://")
    if not sep or head.lower() not in PUBLISH_FORMATS:
        got = (
            f"unsupported scheme {head.lower()!r}"
            if sep and len(head) <= 32 and head.isalnum()
            else "no scheme"
        )
        raise ConfigError(f"--publish: {got} (use {allowed})")
    try:
        parts = urlsplit(url.replace("{source}", "x"))
        port = parts.port
    except ValueError:  # urllib's message quotes the port or the netloc: never shown
        raise ConfigError(
            "--publish: not a valid URL: the port must be a number 1..65535 and an IPv6 address goes in "
            "brackets; percent-encode '/', '?', '#', '@' and spaces in a user name or password"
        ) from None
    if not parts.hostname:
        raise ConfigError(f"--publish: no host in the {head.lower()}:// URL")
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"--publish: port must be 1..65535, got {port}")
    if transport not in TRANSPORTS:
        raise ConfigError(f"--publish-transport must be tcp or udp, got {transport[:16]!r}")


def publish_url_for(template: str, source: str) -> str:
    """The URL of one source: ``{source}`` becomes its slug (``safe_name``, the one its files and topics
    use), ASCII for the media server: a slug in another script goes as ``xn--`` and its Punycode
    (``кухня`` -> ``xn--j1agri5c``), which keeps distinct names distinct."""
    return template.replace("{source}", url_safe_slug(source))


def url_safe_slug(source: str) -> str:
    slug = safe_name(source) or "_"
    return slug if slug.isascii() else "xn--" + slug.encode("punycode").decode("ascii")
