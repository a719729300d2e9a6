"""Issue 20, items 3 and 6: the Host a request names (DNS rebinding), the site a state change comes from,
and a pause for an address that keeps guessing the token; with forged headers and in a real Chromium."""

from __future__ import annotations

import logging
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
    ("method", "host", "origin", "fetch_site", "refused"),
    [
        ("GET", "127.0.0.1:8080", "http://evil.example", "cross-site", False),  # reading: CORS stops it
        ("POST", "127.0.0.1:8080", None, None, False),  # curl, scripts
        ("POST", "127.0.0.1:8080", "http://127.0.0.1:8080", "same-origin", False),
        ("DELETE", "dash.example.com", "https://dash.example.com", None, False),  # behind a TLS proxy
        ("POST", "127.0.0.1:8080", "http://evil.example", None, True),
        ("POST", "127.0.0.1:8080", "http://127.0.0.1:3000", None, True),  # another local service
        ("POST", "127.0.0.1:8080", "null", None, True),  # sandboxed frames, file:// pages
        ("DELETE", "127.0.0.1:8080", None, "same-site", True),
        ("POST", "127.0.0.1:8080", "not a url ::", None, True),
    ],
)
def test_state_changes_from_other_sites_are_refused(
    method: str, host: str, origin: str | None, fetch_site: str | None, refused: bool
) -> None:
    assert cross_site(method, host, origin, fetch_site) is refused


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
    assert any("refusing it for 60 s" in m for m in messages)
    assert len(messages) == 2  # logged once per minute, not once per request
    assert not any("guess-" in m or "stale-cookie" in m for m in messages)  # never the token itself


@pytest.fixture
def dashboard() -> Iterator[tuple[str, PromptBoard]]:
    """A loopback dashboard that demands a token, with a SAM prompt board (clicks change state)."""
    template = _server("127.0.0.1", TOKEN, (SOURCE,))
    board = PromptBoard([SOURCE])
    board.prompts(SOURCE, (640, 480))
    server = DashboardServer(
        template.address, TOKEN, template._status, template._encoder, template._metrics, 10, prompts=board
    ).start()
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


def test_a_token_guesser_gets_429(dashboard: tuple[str, PromptBoard]) -> None:
    url, _ = dashboard
    for i in range(MAX_WRONG_TOKENS):
        assert get(url + "api/status", {"Authorization": f"Bearer wrong-{i}"}).status == 401
    paused = get(url + "api/status", AUTH)  # even the right token waits: guessing stops here
    assert paused.status == 429 and int(paused.headers["Retry-After"]) > 0
    assert get(url + "healthz").status == 200


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
