"""Issue 20, items 3 and 6: the Host a request names (DNS rebinding), the site a state change comes from,
and a pause for an address that keeps guessing the token; with forged headers and in a real Chromium.
Issue 30, items 2, 5 and 8: the pause never refuses the right token, bytes that are not text are a wrong
token, and an origin is its scheme, host and port."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest

from streamseg.inference.sam.board import PromptBoard
from streamseg.web.access import ListenAddress
from streamseg.web.guard import MAX_WRONG_TOKENS, PAUSE_S, HostCheck, TokenGuesses, cross_site
from streamseg.web.server import DashboardServer
from tests.web.helpers import CHROMIUM, CHROMIUM_ARGS, get, need, send, serve_bytes
from tests.web.test_server import _server

TOKEN = "guard-token-1234"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
AUTH_BYTES = f"Authorization: Bearer {TOKEN}\r\n".encode()
SOURCE = "cam"


def test_host_names_a_dashboard_answers_to() -> None:
    loopback = HostCheck(ListenAddress("127.0.0.1", 8080))
    for host in ("127.0.0.1:8080", "localhost:8080", "LOCALHOST.", "[::1]:8080", "127.0.0.2", None):
        assert loopback.allows(host), host
    for host in ("rebind.attacker.example:8080", "10.0.0.5:8080", "127.0.0.1.nip.io", "", "evil"):
        assert not loopback.allows(host), host
    configured = HostCheck(ListenAddress("127.0.0.1", 8080), ["dash.example.com"])
    assert configured.allows("dash.example.com") and configured.allows("Dash.Example.com:443")
    everywhere = HostCheck(ListenAddress("0.0.0.0", 8080))  # a literal IP cannot be rebound
    assert everywhere.allows("192.168.1.20:8080") and everywhere.allows("[fe80::1]:8080")
    assert not everywhere.allows("rebind.attacker.example")
    named = HostCheck(ListenAddress("10.0.0.5", 8080))
    assert named.allows("10.0.0.5:8080") and not named.allows("10.0.0.6:8080")


@pytest.mark.parametrize(
    ("method", "host", "origin", "fetch_site", "scheme", "refused"),
    [
        ("GET", "127.0.0.1:8080", "http://evil.example", "cross-site", "http", False),  # reading: CORS
        ("POST", "127.0.0.1:8080", None, None, "http", False),  # curl, scripts
        ("POST", "127.0.0.1:8080", "http://127.0.0.1:8080", "same-origin", "http", False),
        ("DELETE", "dash.example.com", "https://dash.example.com", None, "https", False),  # a TLS proxy
        ("POST", "dash.example.com", "https://dash.example.com:443", None, "https", False),
        ("POST", "127.0.0.1", "http://127.0.0.1:80", None, "http", False),  # the default port, named
        ("POST", "[::1]:8080", "http://[::1]:8080", None, "http", False),
        ("POST", "127.0.0.1:8080", "http://evil.example", None, "http", True),
        ("POST", "127.0.0.1:8080", "http://127.0.0.1:3000", None, "http", True),  # another local service
        ("POST", "127.0.0.1:8080", "null", None, "http", True),  # sandboxed frames, file:// pages
        ("DELETE", "127.0.0.1:8080", None, "same-site", "http", True),
        ("POST", "127.0.0.1:8080", "not a url ::", None, "http", True),
        # issue 30, item 8: the scheme, and a port left out (80 for http, 443 for https), count
        ("POST", "127.0.0.1:8080", "http://127.0.0.1", None, "http", True),
        ("POST", "127.0.0.1:8080", "https://127.0.0.1", None, "http", True),
        ("WEBSOCKET", "127.0.0.1:8080", "https://127.0.0.1:8080", None, "http", True),
        ("POST", "127.0.0.1", "https://127.0.0.1", None, "http", True),
        ("DELETE", "dash.example.com", "https://dash.example.com", None, "http", True),  # proxy said nothing
        ("POST", "dash.example.com", "http://dash.example.com", None, "https", True),
        ("POST", "127.0.0.1:8080", "ftp://127.0.0.1:8080", None, "http", True),
        ("POST", "127.0.0.1:8080", "http://user@127.0.0.1:8080", None, "http", True),
        ("POST", "127.0.0.1:8080", "http://127.0.0.1:8080/page", None, "http", True),
    ],
)
def test_state_changes_from_other_origins_are_refused(
    method: str, host: str, origin: str | None, fetch_site: str | None, scheme: str, refused: bool
) -> None:
    assert cross_site(method, host, origin, fetch_site, scheme) is refused


def test_distinct_wrong_tokens_pause_an_address(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    guesses = TokenGuesses(clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="streamseg.web.guard"):
        for _ in range(50):  # a page polling with a stale cookie: one wrong token, many times
            guesses.failed("10.0.0.9", "stale-cookie-token", "/api/status")
        assert guesses.paused("10.0.0.9") == 0
        for i in range(MAX_WRONG_TOKENS - 1):
            guesses.failed("10.0.0.9", f"guess-{i}", "/api/status")
        assert guesses.paused("10.0.0.9") == PAUSE_S and guesses.paused("10.0.0.8") == 0
    now[0] += PAUSE_S
    assert guesses.paused("10.0.0.9") == 0
    messages = [r.getMessage() for r in caplog.records]
    assert any("wrong token from 10.0.0.9" in m for m in messages)
    assert any("its wrong tokens get 429 for 60 s" in m for m in messages)
    assert len(messages) == 2  # logged once per minute, not once per request
    assert not any("guess-" in m or "stale-cookie" in m for m in messages)  # never the token itself


def _board_server(allowed_hosts: tuple[str, ...] = ()) -> tuple[DashboardServer, PromptBoard]:
    """A loopback dashboard that demands a token, with a SAM prompt board (clicks change state)."""
    template = _server("127.0.0.1", TOKEN, (SOURCE,))
    board = PromptBoard([SOURCE])
    board.prompts(SOURCE, (640, 480))
    parts = (template._status, template._encoder, template._metrics, 10)
    server = DashboardServer(template.address, TOKEN, *parts, prompts=board, allowed_hosts=allowed_hosts)
    return server.start(), board


@pytest.fixture
def dashboard() -> Iterator[tuple[str, PromptBoard]]:
    server, board = _board_server()
    try:
        yield f"http://127.0.0.1:{server.port}/", board
    finally:
        server.stop()


def test_forged_host_and_origin_headers(dashboard: tuple[str, PromptBoard]) -> None:
    url, board = dashboard
    rebound = {"Host": "rebind.attacker.example", **AUTH}
    for route in ("", "api/status", "metrics", "api/events", f"api/preview/{SOURCE}"):
        reply = get(url + route, rebound)
        assert reply.status == 421 and "allowed_hosts" in reply.text, route
    assert get(url + "healthz", rebound).status == 200  # probes answer by any name
    click = url + f"api/prompts/{SOURCE}"
    assert (
        send("POST", click, {"x": 5, "y": 5}, {"Origin": "http://rebind.attacker.example", **AUTH}).status
        == 403
    )
    assert send("POST", click, {"x": 5, "y": 5}, {"Sec-Fetch-Site": "cross-site", **AUTH}).status == 403
    assert send("DELETE", click, None, {"Origin": "http://evil.example", **AUTH}).status == 403
    assert board.prompts(SOURCE) == []
    same = {"Origin": url.rstrip("/"), "Sec-Fetch-Site": "same-origin", **AUTH}
    assert send("POST", click, {"x": 5, "y": 5}, same).status == 200


def test_a_token_guesser_is_paused_but_the_right_token_never_is(dashboard: tuple[str, PromptBoard]) -> None:
    """Issue 30, item 2: ten wrong tokens from an address used to make it wait a minute, the right token
    included (the user's page and Prometheus beside the guesser)."""
    url, _ = dashboard
    for i in range(MAX_WRONG_TOKENS):
        assert get(url + "api/status", {"Authorization": f"Bearer wrong-{i}"}).status == 401
    paused = get(url + "api/status", {"Authorization": "Bearer wrong-next"})
    assert paused.status == 429 and int(paused.headers["Retry-After"]) > 0
    for route in ("api/status", "metrics"):
        assert get(url + route, AUTH).status == 200, route
    assert get(url + "api/status", {"Cookie": f"streamseg_token={TOKEN}"}).status == 200
    assert get(url + "api/status", {"Authorization": "Bearer wrong-0"}).status == 429  # still paused
    assert get(url + "api/status").status == 401  # no token is no guess
    assert get(url + "healthz").status == 200


def test_an_origin_of_another_scheme_or_port_is_refused(dashboard: tuple[str, PromptBoard]) -> None:
    """Issue 30, item 8: ``http://127.0.0.1`` (port 80) and ``https://127.0.0.1`` passed for a
    dashboard on another port, and their clicks reached the board."""
    url, board = dashboard
    port = url.rstrip("/").rsplit(":", 1)[1]
    click = url + f"api/prompts/{SOURCE}"
    for origin in (
        "http://127.0.0.1",
        "https://127.0.0.1",
        f"https://127.0.0.1:{port}",
        "http://127.0.0.1:80",
    ):
        assert send("POST", click, {"x": 5, "y": 5}, {"Origin": origin, **AUTH}).status == 403, origin
    assert board.prompts(SOURCE) == []
    assert send("POST", click, {"x": 5, "y": 5}, {"Origin": f"http://127.0.0.1:{port}", **AUTH}).status == 200


def test_behind_a_tls_proxy_the_origin_is_https() -> None:
    """The proxy's name is in ``dashboard.allowed_hosts`` and it says ``X-Forwarded-Proto: https``; the
    same header from a client that names us otherwise changes nothing."""
    server, board = _board_server(("dash.example.com",))
    click = f"http://127.0.0.1:{server.port}/api/prompts/{SOURCE}"
    proxied = {"Host": "dash.example.com", "Origin": "https://dash.example.com", **AUTH}
    direct = {"Host": f"127.0.0.1:{server.port}", "Origin": f"https://127.0.0.1:{server.port}", **AUTH}
    try:
        assert send("POST", click, {"x": 5, "y": 5}, proxied).status == 403  # the proxy said nothing
        assert send("POST", click, {"x": 5, "y": 5}, {**direct, "X-Forwarded-Proto": "https"}).status == 403
        assert board.prompts(SOURCE) == []
        assert send("POST", click, {"x": 5, "y": 5}, {**proxied, "X-Forwarded-Proto": "https"}).status == 200
    finally:
        server.stop()


def _raw(port: int, head: bytes) -> tuple[int, bytes]:
    """One request written byte for byte (a client is free to send any bytes); its status and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /api/status HTTP/1.1\r\n" + head + b"Connection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def test_bytes_that_are_not_utf8_are_a_wrong_token_not_an_error(
    dashboard: tuple[str, PromptBoard], caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 30, item 5: these were a 500 and a 21-line traceback each, before any authentication."""
    url, _ = dashboard
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    host = f"Host: 127.0.0.1:{port}\r\n".encode()
    with caplog.at_level(logging.DEBUG):
        for head, status in [
            (host + b"Authorization: Bearer \xff\xfe-not-text\r\n", 401),
            (host + b"Cookie: streamseg_token=\xff\xfe\xfd\r\n", 401),
            (host + b"Authorization: Bearer " + TOKEN.encode() + b"\xff\r\n", 401),
            (host + b"Authorization: \xc3\x28 \xff\r\n", 401),
            (b"Host: \xff\xfe\r\n" + AUTH_BYTES, 421),
        ]:
            answer = _raw(port, head)
            assert answer[0] == status and answer[1].count(b"\n") == 1, (head, answer)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    noted = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(noted) == 1 and "wrong token from 127.0.0.1" in noted[0]  # once a minute at most


@pytest.mark.slow
def test_pages_of_other_sites_in_chromium(dashboard: tuple[str, PromptBoard]) -> None:
    """A page on another port of this machine (same site, so the cookie goes along) posts a form to the
    dashboard, and a rebound name loads the dashboard itself: both refused, nothing changes."""
    from playwright.sync_api import sync_playwright

    need("chromium")
    url, board = dashboard
    port = int(url.rsplit(":", 1)[1].strip("/"))
    attacker = serve_bytes(
        f"""<form id=f method=POST action="{url}api/prompts/{SOURCE}" enctype="text/plain">
        <input name='{{"x": 5, "y": 5, "pad": "' value='"}}'></form><script>f.submit()</script>""".encode(),
        "text/html",
    )
    rules = "--host-resolver-rules=MAP rebind.attacker.example 127.0.0.1, MAP other.example 127.0.0.1"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, rules], headless=True
            )
            try:
                page = browser.new_page()
                page.goto(url + f"?token={TOKEN}")  # the user's own tab: the token becomes a cookie
                assert page.evaluate("document.title")
                page.goto(f"http://127.0.0.1:{attacker.server_port}/")
                page.wait_for_url(f"{url}api/prompts/{SOURCE}", timeout=15_000)
                posted = page.inner_text("body")
                rebound = page.goto(f"http://rebind.attacker.example:{port}/api/status")
                assert rebound is not None
                rebound_status, rebound_text = rebound.status, page.inner_text("body")
            finally:
                browser.close()
    finally:
        attacker.shutdown()
    assert "403: cross-site request refused" in posted  # the cookie went along; the site did not pass
    assert rebound_status == 421 and "allowed_hosts" in rebound_text
    assert board.prompts(SOURCE) == []
