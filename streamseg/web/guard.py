"""Who may ask the dashboard what: the name a request is addressed to, the site a state change comes
from, the token, and a pause for addresses that keep guessing it.

* **Host.** A page on ``rebind.attacker.example`` whose name is re-pointed at 127.0.0.1 (DNS rebinding)
  reaches a loopback dashboard with its own name in ``Host``. Only loopback names and addresses, the
  address the dashboard listens on (any IP literal when that is every interface: a literal cannot be
  rebound) and ``dashboard.allowed_hosts`` are served; anything else gets 421.
* **Origin.** Every request that changes state (POST, DELETE: sources, clicks, the cluster's cameras),
  and every WebSocket (the live video: a page of another site could otherwise watch with the cookie),
  from a page of another origin is refused (403), whatever cookie it carries: ``Origin`` must name this
  scheme, host and port (80 for http, 443 for https where it names none; ``http://127.0.0.1`` is not a
  dashboard on 8080), and ``Sec-Fetch-Site`` must not say cross-site or same-site. The scheme is https
  when the connection is TLS, or when a reverse proxy addressed by a ``dashboard.allowed_hosts`` name
  says ``X-Forwarded-Proto: https`` (the proxy must pass the browser's ``Host`` on, too).
* **Token.** Where one is set, every request but the probes carries it: ``Authorization: Bearer``, the
  page's cookie (made from ``/?token=``, and only from a token checked right; ``Secure`` under https), or
  ``?token=`` on the two addresses where a URL is all a client can give: the page itself (``/``, where
  it becomes the cookie and leaves the address bar) and ``/stream/<source>`` (MJPEG for players and
  ``<img>`` tags elsewhere). Anywhere else ``?token=`` is ignored, so it does not end up in scripts,
  proxies' logs and histories. A token that is not UTF-8 is a wrong token (401), not an error.
* **Token guesses.** An address that presents ``MAX_WRONG_TOKENS`` different wrong tokens within
  ``WINDOW_S`` has its wrong tokens answered 429 for ``PAUSE_S``; the right token is never refused, so
  a guesser cannot lock out the user, the page or Prometheus beside it (same machine, proxy or NAT).
  Failures are logged at most once a minute per address, never with the token. A stale cookie repeated
  by a polling page is one wrong token, not many.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web

from streamseg.web.access import ListenAddress, is_loopback_host, token_matches

logger = logging.getLogger(__name__)

COOKIE = "streamseg_token"  # the page's token, set from ``/?token=`` (kept out of the address bar)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_WRONG_TOKENS = 10  # distinct wrong tokens from one address within WINDOW_S ...
WINDOW_S = 60.0
PAUSE_S = 60.0  # ... and it is answered 429 for this long
LOG_EVERY_S = 60.0
MAX_TRACKED = 4096  # addresses remembered at once (the oldest are forgotten first)


class RequestGuard:
    """The server's middleware asks ``refusal`` of every request but the two probes."""

    def __init__(self, address: ListenAddress, token: str | None, allowed_hosts: Iterable[str] = ()) -> None:
        self._token = token
        self._hosts = HostCheck(address, allowed_hosts)
        self._guesses = TokenGuesses()

    def refusal(self, request: web.Request) -> tuple[int, str, dict[str, str]] | None:
        """(status, one line, extra headers) when ``request`` is refused, else None: Host, then the token
        (and the pause of a guesser), then the site of a state change."""
        headers = request.headers
        if not self._hosts.allows(headers.get("Host")):
            return 421, "421: not served under this host name (see dashboard.allowed_hosts)", {}
        if self._token is not None:
            refused = self._token_refusal(self._token, request)
            if refused is not None:
                return refused
        method = "WEBSOCKET" if headers.get("Upgrade", "").lower() == "websocket" else request.method
        origin, fetch_site = headers.get("Origin"), headers.get("Sec-Fetch-Site")
        if cross_site(method, headers.get("Host"), origin, fetch_site, self.scheme(request)):
            return 403, "403: cross-site request refused", {}
        return None

    def _token_refusal(self, token: str, request: web.Request) -> tuple[int, str, dict[str, str]] | None:
        presented = presented_token(request)
        if presented is not None and token_matches(token, presented):
            return None  # whatever others at this address guessed
        if presented is not None:
            address = request.remote or "?"
            wait = self._guesses.paused(address)
            if wait > 0:
                return 429, "429: too many wrong tokens; try again later", {"Retry-After": f"{wait:.0f}"}
            self._guesses.failed(address, presented, request.path)
        return 401, "401: dashboard token required", {"WWW-Authenticate": 'Bearer realm="streamseg"'}

    def scheme(self, request: web.BaseRequest) -> str:
        """The scheme the browser used: https over TLS, or behind a proxy addressed by an allowed name
        that says so (``X-Forwarded-Proto: https``); else http."""
        if request.secure:
            return "https"
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        if forwarded == "https" and self._hosts.is_allowed_name(request.headers.get("Host")):
            return "https"
        return "http"

    def cookie(self, request: web.BaseRequest) -> str | None:
        """What the page's cookie may hold: ``?token=`` once checked right here, else nothing."""
        offered = request.query.get("token")
        if self._token is None or offered is None or not token_matches(self._token, offered):
            return None
        return offered


def takes_query_token(path: str) -> bool:
    """Where ``?token=`` counts: the page's own address and the MJPEG stream (see the module docstring)."""
    return path == "/" or path.startswith("/stream/")


def presented_token(request: web.BaseRequest) -> str | None:
    """The token a request offers: ``?token=`` where it counts, else a Bearer header, else the cookie."""
    if "token" in request.query and takes_query_token(request.path):
        return request.query["token"]
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    return request.cookies.get(COOKIE)


class HostCheck:
    """The names this dashboard answers to (see the module docstring)."""

    def __init__(self, address: ListenAddress, allowed_hosts: Iterable[str] = ()) -> None:
        self._names = {"localhost", *(_bare(h) for h in allowed_hosts)}
        self._any_literal = _is_unspecified(address.host)
        self._allowed = {_bare(h) for h in allowed_hosts}
        if self._any_literal:
            self._names.add(socket.gethostname().lower())
        else:
            self._names.add(_bare(address.host))

    def allows(self, host_header: str | None) -> bool:
        """Whether a request with this ``Host`` header is addressed to us (no header: not a browser)."""
        if host_header is None:
            return True
        host = _bare(_split_host(host_header)[0])
        if host in self._names or is_loopback_host(host):
            return True
        return self._any_literal and _is_ip(host)

    def is_allowed_name(self, host_header: str | None) -> bool:
        """Whether ``Host`` is one of ``dashboard.allowed_hosts`` (a reverse proxy's names)."""
        return host_header is not None and _bare(_split_host(host_header)[0]) in self._allowed


def cross_site(
    method: str, host_header: str | None, origin: str | None, fetch_site: str | None, scheme: str = "http"
) -> bool:
    """Whether a state-changing request comes from a page of another origin than ``scheme`` + ``Host``
    (see the module docstring)."""
    if method.upper() in SAFE_METHODS:
        return False
    if fetch_site is not None and fetch_site.lower() in ("cross-site", "same-site"):
        return True
    if origin is None:
        return False  # not sent by a browser page (curl, scripts, Prometheus): the token rule applies
    if host_header is None or scheme not in DEFAULT_PORTS:
        return True
    try:
        parts = urlsplit(origin.strip())
        origin_port = parts.port
    except ValueError:
        return True
    origin_scheme, origin_host = parts.scheme.lower(), (parts.hostname or "")
    if origin_scheme not in DEFAULT_PORTS or not origin_host or parts.username is not None:
        return True  # "null" (sandboxed frames, file:// pages), other schemes, nonsense
    if parts.path or parts.query or parts.fragment:
        return True  # an origin is scheme://host[:port], nothing else
    host, port = _split_host(host_header)
    ours = (scheme, _bare(host), port if port is not None else DEFAULT_PORTS[scheme])
    theirs_port = origin_port if origin_port is not None else DEFAULT_PORTS[origin_scheme]
    theirs = (origin_scheme, _bare(origin_host), theirs_port)
    return ours != theirs


@dataclass
class _Record:
    wrong: dict[str, float] = field(default_factory=dict)  # digest of a wrong token -> last seen
    paused_until: float = 0.0
    logged_at: float = float("-inf")
    unlogged: int = 0


class TokenGuesses:
    """Per-address count of distinct wrong tokens; ``paused(address)`` says when to answer 429."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def paused(self, address: str) -> float:
        """Seconds ``address`` must still wait (0: it may ask)."""
        record = self._records.get(address)
        return max(0.0, record.paused_until - self._clock()) if record is not None else 0.0

    def failed(self, address: str, presented: str, path: str) -> None:
        """``address`` presented ``presented`` (wrong) asking for ``path``."""
        now = self._clock()
        record = self._records.pop(address, None) or _Record()
        self._records[address] = record  # most recent last
        while len(self._records) > MAX_TRACKED:
            self._records.popitem(last=False)
        digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        record.wrong = {d: t for d, t in record.wrong.items() if now - t < WINDOW_S}
        record.wrong[digest] = now
        if len(record.wrong) >= MAX_WRONG_TOKENS and record.paused_until <= now:
            record.paused_until = now + PAUSE_S
            record.wrong.clear()
            logger.warning(
                "dashboard: %s presented %d different wrong tokens within %.0f s; its wrong tokens get 429 "
                "for %.0f s (the right one still works)",
                address,
                MAX_WRONG_TOKENS,
                WINDOW_S,
                PAUSE_S,
            )
            return
        if now - record.logged_at >= LOG_EVERY_S:
            more = f" (and {record.unlogged} more since the last report)" if record.unlogged else ""
            logger.warning("dashboard: wrong token from %s for %s%s", address, _printable(path), more)
            record.logged_at, record.unlogged = now, 0
        else:
            record.unlogged += 1


def _split_host(host_header: str) -> tuple[str, int | None]:
    """``[::1]:8080`` -> (``::1``, 8080); ``name`` -> (``name``, None)."""
    text = host_header.strip()
    if text.startswith("["):
        inside, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        return inside, int(port_text) if port_text.isdigit() else None
    host, sep, port_text = text.rpartition(":")
    if sep and port_text.isdigit() and ":" not in host:
        return host, int(port_text)
    return text, None


def _printable(text: str, limit: int = 200) -> str:
    """``text`` safe for any log handler: ASCII (escapes for the rest, undecodable bytes included), cut."""
    return text[:limit].encode("ascii", "backslashreplace").decode("ascii")


def _bare(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(_bare(host)).is_unspecified
    except ValueError:
        return False
