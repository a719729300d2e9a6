"""Listen addresses, the token rule, and credential scrubbing."""

from __future__ import annotations

import logging

import pytest

from streamseg.errors import ConfigError
from streamseg.redact import redact_text
from streamseg.web.access import TOKEN_ENV, ListenAddress, parse_listen, resolve_token, token_matches


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("8080", "127.0.0.1", 8080),
        ("0.0.0.0:9000", "0.0.0.0", 9000),
        ("localhost:0", "localhost", 0),
        ("[::1]:8081", "::1", 8081),
    ],
)
def test_parse_listen(text: str, host: str, port: int) -> None:
    assert parse_listen(text) == ListenAddress(host, port)


@pytest.mark.parametrize("text", ["", "abc", "1.2.3.4:", ":80", "70000", "[::1]8080", "host:-1"])
def test_parse_listen_rejects_nonsense_in_one_line(text: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_listen(text)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True), ("0.0.0.0", False),
     ("::", False), ("192.168.1.5", False), ("myhost", False)],
)  # fmt: skip
def test_loopback(host: str, loopback: bool) -> None:
    assert ListenAddress(host, 1).is_loopback is loopback


def test_token_required_off_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert resolve_token(parse_listen("127.0.0.1:1"), None) is None
    with pytest.raises(ConfigError, match="--dashboard-token"):
        resolve_token(parse_listen("0.0.0.0:1"), None)
    with pytest.raises(ConfigError, match="at least 8"):
        resolve_token(parse_listen("0.0.0.0:1"), "short")
    assert resolve_token(parse_listen("0.0.0.0:1"), "a-long-token") == "a-long-token"
    monkeypatch.setenv(TOKEN_ENV, "from-the-environment")
    assert resolve_token(parse_listen("0.0.0.0:1"), None) == "from-the-environment"
    assert resolve_token(parse_listen("0.0.0.0:1"), "flag-wins-here") == "flag-wins-here"


def test_a_short_token_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The right token is never locked out (issue 30, item 2), so its length is what holds guessing back."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with caplog.at_level(logging.WARNING, logger="streamseg.web.access"):
        resolve_token(parse_listen("0.0.0.0:1"), "eight-ch")
        resolve_token(parse_listen("0.0.0.0:1"), "a-token-of-24-characters")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "8 characters" in messages[0] and "eight-ch" not in messages[0]


def test_token_matches() -> None:
    assert token_matches("secret-token", "secret-token")
    assert not token_matches("secret-token", "secret-tokem")
    assert not token_matches("secret-token", None)
    assert not token_matches("secret-token", "secret-token\udcff")  # bytes that were not UTF-8
    assert not token_matches("secret-token", "\ud800")  # any lone surrogate: no match, no error


def test_redact() -> None:
    assert redact_text("rtsp://user:secret@127.0.0.1/x failed") == "rtsp://user:***@127.0.0.1/x failed"
    assert redact_text('{"e":"http://admin:pw@cam:8080/a"}') == '{"e":"http://admin:***@cam:8080/a"}'
    assert redact_text("plain text, user@example.com") == "plain text, user@example.com"
