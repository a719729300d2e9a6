"""Sink URLs: what parses, and one-line ConfigErrors that name the flag and never show a password, nor
any part of a URL that did not parse (issue 30, item 11)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from streamseg.errors import ConfigError
from streamseg.notify import check_webhook_url, parse_mqtt_url

SECRET = "s3cr3t-pw"


def test_mqtt_url_defaults() -> None:
    u = parse_mqtt_url("mqtt://broker.lan")
    assert (u.host, u.port, u.username, u.password, u.prefix, u.tls) == (
        "broker.lan",
        1883,
        None,
        None,
        "streamseg",
        False,
    )


def test_mqtt_url_in_full() -> None:
    u = parse_mqtt_url(f"mqtts://cam%40home:{SECRET}@[::1]:9883/home/cams/")
    assert (u.host, u.port, u.username, u.password, u.prefix, u.tls) == (
        "::1",
        9883,
        "cam@home",
        SECRET,
        "home/cams",
        True,
    )
    assert SECRET not in repr(u) and SECRET not in u.display
    assert u.display == "mqtts://cam%40home:***@[::1]:9883/home/cams/"
    assert parse_mqtt_url("MQTTS://h").port == 8883


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (f"mqtt://user:{SECRET}@host:99999/x", "--mqtt: port must be 1..65535, got 99999"),
        (f"mqtt://user:{SECRET}@host:0", "port must be 1..65535, got 0"),
        ("mqtt://host:abc", "port must be 1..65535, got no number"),
        ("mqtt://host:", "port must be 1..65535, got an empty port"),
        ("mqtt://host:" + "9" * 5000, "port must be 1..65535"),
        (f"mqtt://user:{SECRET}@:1883", "a host is required"),
        ("mqtt:///prefix", "a host is required"),
        (f"http://user:{SECRET}@host", "expected a mqtt:// or mqtts:// URL, got scheme 'http://'"),
        ("broker.lan:1883", "expected a mqtt:// or mqtts:// URL"),
        ("mqtt://host/cams/+", "must not contain the wildcards '+' or '#'"),
        ("mqtt://host/cams%23", "must not contain the wildcards"),
        ("mqtt://host/$SYS", "must not start with '$'"),
        ("mqtt://host/x?retain=1", "no query or fragment"),
        ("mqtt://host/front door", "holds a space or a control character: percent-encode it"),
    ],
)
def test_bad_mqtt_urls(url: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_mqtt_url(url)
    message = str(info.value)
    assert problem in message and message.startswith("--mqtt: ")
    assert "\n" not in message and SECRET not in message


def test_webhook_urls() -> None:
    assert check_webhook_url("https://hooks.example/x?a=1") == "https://hooks.example/x?a=1"
    assert check_webhook_url("http://127.0.0.1:8080/hook") == "http://127.0.0.1:8080/hook"
    for url, problem in [
        (f"ftp://u:{SECRET}@host/x", "expected a http:// or https:// URL"),
        (f"https://u:{SECRET}@host:70000/x", "port must be 1..65535, got 70000"),
        (f"https://u:{SECRET}@host:/x", "port must be 1..65535, got an empty port"),
    ]:
        with pytest.raises(ConfigError) as info:
            check_webhook_url(url)
        assert str(info.value).startswith("--webhook: ") and problem in str(info.value)
        assert SECRET not in str(info.value) and "host" not in str(info.value)  # the URL is never quoted


# Issue 30, item 11: a password with an unencoded '#', '/', '?' or space ends the authority early, so
# urllib reads part of it as the port ("port must be 1..65535, got pa"): no line may quote any of it.
BROKEN = ["Qw#Zk", "Qw/Zk", "Qw?Zk", "Qw Zk", "Qw#Zk/x?y"]  # 'Qw' is what urllib took for the port


@pytest.mark.parametrize("password", BROKEN)
@pytest.mark.parametrize(
    ("check", "url"),
    [
        (parse_mqtt_url, "mqtt://Uxv:{}@hostq.lan/cams"),
        (parse_mqtt_url, "mqtt://{}@hostq.lan"),  # a token as the user name
        (check_webhook_url, "https://Uxv:{}@hostq.lan/x"),
        (check_webhook_url, "http://{}@hostq.lan:8123/api/webhook/abc"),
    ],
)
def test_a_password_that_breaks_the_url_is_never_quoted(
    check: Callable[[str], object], url: str, password: str
) -> None:
    with pytest.raises(ConfigError) as info:
        check(url.format(password))
    message = str(info.value)
    assert "\n" not in message and "percent-encode" in message
    for part in ("Qw", "Zk", "Uxv", "hostq"):
        assert part not in message, (part, message)


def test_what_the_hint_says_fixes_it() -> None:
    with pytest.raises(ConfigError) as info:
        parse_mqtt_url("mqtt://user:pa#ss@broker.lan/cams")
    assert "'#' as %23" in str(info.value) and "'/' as %2F" in str(info.value)
    fixed = parse_mqtt_url("mqtt://user:pa%23ss@broker.lan/cams")
    assert (fixed.host, fixed.password, fixed.prefix) == ("broker.lan", "pa#ss", "cams")
    assert check_webhook_url("https://bot:pa%2Fss@hooks.example/x") == "https://bot:pa%2Fss@hooks.example/x"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (f"user:{SECRET}@broker", "got no scheme"),  # the whole URL once stood in for the scheme
        (f"mqtt://user:{SECRET}", "port must be 1..65535, got no number"),  # no host: the password as port
        (f"mqtt://[::1:{SECRET}@x", "percent-encode"),  # urllib's message would quote the netloc
        (f"mqtt://user:{SECRET}@host/a@b", "an '@' comes after a '/'"),
    ],
)
def test_other_unparseable_urls_are_never_quoted(url: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_mqtt_url(url)
    assert problem in str(info.value) and SECRET not in str(info.value) and "user:" not in str(info.value)


def test_a_webhook_fragment_is_refused() -> None:
    with pytest.raises(ConfigError, match="percent-encode a '#' in the URL as %23"):
        check_webhook_url("https://hooks.example/x#frag")
