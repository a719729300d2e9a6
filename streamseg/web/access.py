"""Who may talk to the dashboard: where it listens, and the token it demands off loopback.

Binding to loopback is safe by default (only this machine can connect). Any other address exposes
live camera pictures to the network, so the server refuses to start there without a token.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from dataclasses import dataclass

from streamseg.errors import ConfigError

TOKEN_ENV = "STREAMSEG_DASHBOARD_TOKEN"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
MIN_TOKEN_CHARS = 8
STRONG_TOKEN_CHARS = 16  # below this, a warning: guessing is held back by the token's length alone

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ListenAddress:
    host: str
    port: int

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    def url(self, port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port if port is None else port}/"


def parse_listen(text: str) -> ListenAddress:
    """``PORT``, ``HOST:PORT`` or ``[IPv6]:PORT``; port 0 picks a free port."""
    raw = text.strip()
    host, port_text = DEFAULT_HOST, raw
    if raw.startswith("["):
        inside, sep, rest = raw[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ConfigError(f"dashboard address must be [HOST]:PORT for IPv6, got {text!r}")
        host, port_text = inside, rest[1:]
    elif ":" in raw:
        host, _, port_text = raw.rpartition(":")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"dashboard address must be [HOST:]PORT with a port 0-65535, got {text!r}")
    if not host:
        raise ConfigError(f"dashboard address has an empty host, got {text!r} (use 0.0.0.0 for all)")
    return ListenAddress(host, int(port_text))


def is_loopback_host(host: str) -> bool:
    """Only literal loopback addresses and ``localhost`` count; a name could resolve anywhere."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_token(address: ListenAddress, configured: str | None) -> str | None:
    """The token to demand: flag/config first, then the environment; required off loopback."""
    token = configured or os.environ.get(TOKEN_ENV) or None
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"dashboard token must be at least {MIN_TOKEN_CHARS} characters")
    if token is None and not address.is_loopback:
        raise ConfigError(
            f"dashboard on {address.host} is reachable from the network: give a token with "
            f"--dashboard-token or {TOKEN_ENV} (or listen on 127.0.0.1)"
        )
    if token is not None and len(token) < STRONG_TOKEN_CHARS:
        # The right token is never refused (``guard``), so a guesser's pause cannot stop a right guess.
        logger.warning(
            "dashboard token has %d characters: use %d or more random ones "
            "(python -c 'import secrets; print(secrets.token_urlsafe(24))')",
            len(token),
            STRONG_TOKEN_CHARS,
        )
    return token


def token_matches(expected: str, supplied: str | None) -> bool:
    """Constant-time comparison, so response timing says nothing about the token. What a client sent
    that is not UTF-8 (aiohttp hands it on as lone surrogates) is encoded as no UTF-8 text is: no match."""
    if supplied is None:
        return False
    return hmac.compare_digest(expected.encode(), supplied.encode("utf-8", "surrogatepass"))
