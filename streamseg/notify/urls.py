"""Sink URLs checked before anything connects: a typo in ``--mqtt`` or ``--webhook`` is one clear line
(``ConfigError``, exit 2) at start, not a sink that retries an impossible address all run.

Every message quotes the URL with its password masked (``redact_uri``): these lines end up in
terminals, logs and CI output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn
from urllib.parse import unquote, urlsplit

from streamseg.errors import ConfigError
from streamseg.redact import redact_uri

MQTT_PORTS = {"mqtt": 1883, "mqtts": 8883}
HTTP_PORTS = {"http": 80, "https": 443}
DEFAULT_PREFIX = "streamseg"


@dataclass(frozen=True)
class MqttUrl:
    """A parsed ``mqtt[s]://[user:pass@]host[:port][/prefix]``; ``display`` is safe to show."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    prefix: str = DEFAULT_PREFIX
    tls: bool = False
    display: str = ""


def parse_mqtt_url(url: str, flag: str = "--mqtt") -> MqttUrl:
    """Parse and check an MQTT broker URL; the path is the topic prefix (default ``streamseg``)."""
    scheme, host, port, parts = _split(url, flag, MQTT_PORTS)
    if parts.query or parts.fragment:
        _fail(flag, "no query or fragment allowed (the path is the topic prefix)", url)
    prefix = unquote(parts.path).strip("/") or DEFAULT_PREFIX
    if "+" in prefix or "#" in prefix:
        _fail(flag, f"topic prefix must not contain the wildcards '+' or '#', got {prefix!r}", url)
    if prefix.startswith("$"):
        _fail(flag, f"topic prefix must not start with '$' (reserved by brokers), got {prefix!r}", url)
    if "\x00" in prefix:
        _fail(flag, "topic prefix must not contain NUL characters", url)
    return MqttUrl(
        host=host,
        port=port,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        prefix=prefix,
        tls=scheme == "mqtts",
        display=redact_uri(url),
    )


def check_webhook_url(url: str, flag: str = "--webhook") -> str:
    """Check an http(s) webhook URL (scheme, host, port) and return it unchanged."""
    _split(url, flag, HTTP_PORTS)
    return url


def _split(url: str, flag: str, schemes: dict[str, int]) -> tuple[str, str, int, _Parts]:
    """Scheme, host and port of ``url`` (the scheme's default port when none is given), or ConfigError."""
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        _fail(flag, "spaces and control characters are not allowed in the URL (percent-encode them)", url)
    head, sep, _ = url.partition("://")
    scheme = head.lower()
    if not sep or scheme not in schemes:
        allowed = " or ".join(f"{s}://" for s in schemes)
        _fail(flag, f"expected a {allowed} URL, got scheme {head + sep or 'none'!r}", url)
    try:
        split = urlsplit(url)
    except ValueError as exc:
        _fail(flag, f"not a valid URL: {exc}", url)
    hostport = split.netloc.rpartition("@")[2]
    host, port_text = _host_and_port(hostport)
    if not host:
        _fail(flag, "a host is required", url)
    if any(c.isspace() for c in host) or (":" in host and not hostport.startswith("[")):
        _fail(flag, f"not a valid host: {host!r}", url)
    if port_text is None:
        port = schemes[scheme]
    elif port_text.isascii() and port_text.isdigit() and len(port_text) <= 5 and 1 <= int(port_text) <= 65535:
        port = int(port_text)
    else:
        _fail(flag, f"port must be 1..65535, got {port_text or 'an empty port'}", url)
    return scheme, host, port, _Parts(split.path, split.query, split.fragment, split.username, split.password)


@dataclass(frozen=True)
class _Parts:
    path: str
    query: str
    fragment: str
    username: str | None
    password: str | None


def _host_and_port(hostport: str) -> tuple[str, str | None]:
    """``host:port``, ``[v6]:port`` or a bare host; the port text is None when there is none."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end == -1:
            return "", None
        host, rest = hostport[1:end], hostport[end + 1 :]
        return host, rest[1:] if rest.startswith(":") else (rest or None)
    host, sep, port = hostport.rpartition(":")
    return (host, port) if sep else (hostport, None)


def _fail(flag: str, problem: str, url: str) -> NoReturn:
    raise ConfigError(f"{flag}: {problem} ({redact_uri(url)})")
