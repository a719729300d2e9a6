"""Sink URLs checked before anything connects: a typo in ``--mqtt`` or ``--webhook`` is one clear line
(``ConfigError``, exit 2) at start, not a sink that retries an impossible address all run.

No message quotes the URL: these lines end up in terminals, logs and CI output, and a URL that did not
parse may hold its password where the host or the port should be (``mqtt://user:pa#ss@host``: the
'#' ends the authority, so "pa" reads as the port). They say what is wrong and how to fix it; a shown
URL (``MqttUrl.display``, a sink's ``target``) is ``redact_url``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn
from urllib.parse import unquote, urlsplit

from streamseg.errors import ConfigError
from streamseg.redact import redact_url, url_shape_problem

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
        _fail(flag, "no query or fragment allowed (the path is the topic prefix)")
    prefix = unquote(parts.path).strip("/") or DEFAULT_PREFIX
    if "+" in prefix or "#" in prefix:
        _fail(flag, f"topic prefix must not contain the wildcards '+' or '#', got {prefix!r}")
    if prefix.startswith("$"):
        _fail(flag, f"topic prefix must not start with '$' (reserved by brokers), got {prefix!r}")
    if "\x00" in prefix:
        _fail(flag, "topic prefix must not contain NUL characters")
    return MqttUrl(
        host=host,
        port=port,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        prefix=prefix,
        tls=scheme == "mqtts",
        display=redact_url(url),
    )


def check_webhook_url(url: str, flag: str = "--webhook") -> str:
    """Check an http(s) webhook URL (scheme, host, port) and return it unchanged. A fragment is refused:
    it is never sent, so a '#' there is a password's that needs percent-encoding."""
    parts = _split(url, flag, HTTP_PORTS)[3]
    if parts.fragment or url.endswith("#"):
        _fail(flag, "a '#' starts a fragment, which is never sent: percent-encode a '#' in the URL as %23")
    return url


def _split(url: str, flag: str, schemes: dict[str, int]) -> tuple[str, str, int, _Parts]:
    """Scheme, host and port of ``url`` (the scheme's default port when none is given), or ConfigError.
    Nothing of the URL is quoted until its shape is known to be sound, and then only the scheme, the
    host and a numeric port (what precedes the userinfo's '@' is never quoted)."""
    shape = url_shape_problem(url)
    if shape is not None:
        _fail(flag, shape)
    head, sep, _ = url.partition("://")
    scheme = head.lower()
    if not sep or scheme not in schemes:
        allowed = " or ".join(f"{s}://" for s in schemes)
        got = f"scheme {head + sep!r}" if sep and len(head) <= 32 and head.isalnum() else "no scheme"
        _fail(flag, f"expected a {allowed} URL, got {got}")
    try:
        split = urlsplit(url)
    except ValueError:  # urllib's message may quote the netloc, password and all
        _fail(flag, "not a valid URL (an IPv6 address goes in brackets; percent-encode special characters)")
    hostport = split.netloc.rpartition("@")[2]
    host, port_text = _host_and_port(hostport)
    if not host:
        _fail(flag, "a host is required")
    if any(c.isspace() for c in host) or (":" in host and not hostport.startswith("[")):
        _fail(flag, f"not a valid host: {host[:64]!r}")
    if port_text is None:
        port = schemes[scheme]
    elif port_text.isascii() and port_text.isdigit() and len(port_text) <= 5 and 1 <= int(port_text) <= 65535:
        port = int(port_text)
    else:
        numeric = port_text.isascii() and port_text.isdigit()
        got = (
            port_text if numeric and len(port_text) <= 12 else "a number too long" if numeric else "no number"
        )
        _fail(flag, f"port must be 1..65535, got {got if port_text else 'an empty port'}")
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


def _fail(flag: str, problem: str) -> NoReturn:
    raise ConfigError(f"{flag}: {problem}")
