"""The dashboard server without a pipeline: the token rule off loopback, and no credentials anywhere;
issue 30, item 13: where ``?token=`` counts, and what the cookie holds."""

from __future__ import annotations

import http.client
import http.cookiejar
import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from streamseg.config import Config, DashboardConfig, SourceConfig, default_source_name
from streamseg.errors import ConfigError, DashboardError
from streamseg.telemetry import Telemetry
from streamseg.web.access import parse_listen
from streamseg.web.metrics import PipelineMetrics
from streamseg.web.preview import PreviewEncoder, PreviewSink
from streamseg.web.server import DashboardServer
from streamseg.web.status import RunInfo, StatusBuilder
from tests.telemetry.fakes import FakeMemory
from tests.web.helpers import free_port, get

CAMERA_URI = "rtsp://user:secret@127.0.0.1/x"
TOKEN = "test-token-123"


def _server(host: str, token: str | None, names: tuple[str, ...], **extra: Any) -> DashboardServer:
    """A dashboard over a made-up telemetry of ``names``; ``extra``: ``DashboardServer``'s own keywords
    (``prompts``, ``live`` ...)."""
    telemetry = Telemetry(system=FakeMemory(rss_bytes=1 << 20), gpu_index=None)
    for name in names:
        telemetry.count_frame(name, "captured")
        telemetry.count_frame(name, "processed")
        telemetry.record_stage("end_to_end", 0.05, name)
        # What a capture layer might report after a failure; the URL must be scrubbed on the way out.
        info = {"health": "reconnecting", "last_error": f"{CAMERA_URI}: 401"}
        telemetry.register_source_info(name, lambda info=info: info)
    preview = PreviewSink()
    status = StatusBuilder(telemetry.snapshot, preview, RunInfo(names, 4, 4.0))
    metrics = PipelineMetrics(status.status, 4)
    telemetry.add_observer(metrics)
    telemetry.record_stage("infer", 0.02, names[0])
    encoder = PreviewEncoder(preview, None)
    return DashboardServer(parse_listen(f"{host}:0"), token, status, encoder, metrics, history_s=10, **extra)


@pytest.fixture
def exposed() -> Iterator[DashboardServer]:
    """Bound to every interface (with a token), but only ever requested through loopback."""
    server = _server("0.0.0.0", TOKEN, (default_source_name(CAMERA_URI), CAMERA_URI)).start()
    try:
        yield server
    finally:
        server.stop()


def _local(server: DashboardServer) -> str:
    return f"http://127.0.0.1:{server.port}/"


ROUTES = ("", "api/status", "api/history", "api/events", "metrics", "static/dashboard.js", "stream/x")


@pytest.mark.parametrize("route", ROUTES)
def test_off_loopback_refuses_requests_without_the_token(exposed: DashboardServer, route: str) -> None:
    url = _local(exposed) + route
    assert get(url).status == 401
    assert get(url, {"Authorization": "Bearer wrong-token-0"}).status == 401
    assert get(url + "?token=wrong-token-0").status == 401


def test_token_by_header_query_or_cookie(exposed: DashboardServer) -> None:
    base = _local(exposed)
    assert get(base + "api/status", {"Authorization": f"Bearer {TOKEN}"}).status == 200
    assert get(base + "api/status", {"Authorization": f"bearer {TOKEN}"}).status == 200
    # ?token= only where a URL is all a client can give: the page, and MJPEG for players (404: it got
    # past the token to "no such source"); elsewhere it is ignored, so it stays out of scripts and logs.
    assert get(base + f"stream/nope?token={TOKEN}").status == 404
    for route in ("metrics", "api/status", "api/history", f"api/preview/{CAMERA_URI}"):
        assert get(base + f"{route}?token={TOKEN}").status == 401, route
    # The page swaps a token in the URL for a cookie, so it leaves the address bar and history.
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar)
    )
    with browser.open(base + f"?token={TOKEN}", timeout=10) as page:
        assert page.geturl() == base and b"streamseg dashboard" in page.read()
    assert [c.name for c in jar] == ["streamseg_token"]
    assert get(base, {"Cookie": f"streamseg_token={TOKEN}"}).status == 200
    # Probes stay open for orchestrators, and say nothing but counts.
    assert get(base + "healthz").status == 200
    assert get(base + "readyz").text == "not ready: 0 of 2 sources live\n"


def _page(port: int, query: str, headers: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """``GET /?QUERY`` without following the redirect: its status and ``Set-Cookie`` headers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", f"/?{query}", headers=headers or {})
        reply = conn.getresponse()
        reply.read()
        return reply.status, reply.headers.get_all("Set-Cookie") or []
    finally:
        conn.close()


def test_only_a_checked_token_becomes_the_cookie_secure_under_https() -> None:
    """Issue 30, item 13: ``?token=wrong`` beside a valid Bearer was stored unchecked, and the cookie was
    never ``Secure``, not even behind a TLS proxy that says so."""
    server = _server("0.0.0.0", TOKEN, ("cam",), allowed_hosts=("dash.example.com",)).start()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    try:
        assert _page(server.port, "token=wrong-token-9", bearer) == (401, [])
        status, cookies = _page(server.port, f"token={TOKEN}")
        assert status == 302 and len(cookies) == 1
        attributes = [a.strip().lower() for a in cookies[0].split(";")]
        assert attributes[0] == f"streamseg_token={TOKEN}".lower() and "httponly" in attributes
        assert "samesite=strict" in attributes and "secure" not in attributes  # plain http here
        proxied = {"Host": "dash.example.com", "X-Forwarded-Proto": "https"}
        status, cookies = _page(server.port, f"token={TOKEN}", proxied)
        assert status == 302 and "secure" in [a.strip().lower() for a in cookies[0].split(";")]
        forged = {"X-Forwarded-Proto": "https"}  # not from the proxy's name: not believed
        assert "secure" not in _page(server.port, f"token={TOKEN}", forged)[1][0].lower()
    finally:
        server.stop()
    loopback = _server("127.0.0.1", None, ("cam",)).start()  # no token to check: nothing is stored
    try:
        assert _page(loopback.port, "token=anything-at-all") == (302, [])
    finally:
        loopback.stop()


def test_credentials_never_appear(exposed: DashboardServer) -> None:
    base = _local(exposed)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    bodies: dict[str, Any] = {}
    for route in ("", "api/status", "api/history", "metrics", "readyz", "healthz", "static/dashboard.js"):
        bodies[route] = get(base + route, auth).text
    events = _first_sse_events(base + "api/events", auth)
    bodies["api/events"] = events
    status = get(base + "api/status", auth).json()
    assert [s["name"] for s in status["sources"]] == ["x", "rtsp://user:***@127.0.0.1/x"]
    assert status["sources"][0]["last_error"] == "rtsp://user:***@127.0.0.1/x: 401"
    assert 'streamseg_source_health{source="x",state="reconnecting"} 1.0' in bodies["metrics"]
    for route, body in bodies.items():
        assert "secret" not in body, route
        # any user:password@ left must have its password masked
        assert not re.search(r"://[^/\s:@]*:(?!\*\*\*@)[^/\s@]*@", body), route


def _first_sse_events(url: str, headers: dict[str, str]) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(urllib.request.Request(url, headers=headers), timeout=10) as r:
        text = ""
        while text.count("\n\n") < 2:
            text += r.read1(65536).decode()
    assert text.startswith("event: history\n") and "event: status\n" in text
    return text


def test_loopback_needs_no_token_and_port_clash_is_one_line() -> None:
    server = _server("127.0.0.1", None, ("cam",)).start()
    try:
        assert get(_local(server) + "api/status").status == 200
        with pytest.raises(DashboardError, match=r"cannot listen on 127\.0\.0\.1:\d+") as err:
            _server("127.0.0.1", None, ("cam",)).__class__(
                parse_listen(f"127.0.0.1:{server.port}"), None, *_parts(server)
            ).start()
        assert "\n" not in str(err.value)
    finally:
        server.stop()


def _parts(server: DashboardServer) -> tuple[Any, Any, Any]:
    return server._status, server._encoder, server._metrics


def test_dashboard_refuses_to_start_off_loopback_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from streamseg.cli import main

    monkeypatch.delenv("STREAMSEG_DASHBOARD_TOKEN", raising=False)
    port = free_port()
    assert main(["run", "missing.mp4", "--dashboard", f"0.0.0.0:{port}", "-q"]) == 2
    cfg = Config(sources=(SourceConfig("a.mp4"),), dashboard=DashboardConfig(listen=f"0.0.0.0:{port}"))
    from streamseg.web import Dashboard

    with pytest.raises(ConfigError, match="reachable from the network"):
        Dashboard(cfg, Telemetry(gpu_index=None))
