"""Sink URLs: what parses, and one-line ConfigErrors that name the flag and never show a password."""

from __future__ import annotations

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
    assert parse_mqtt_url("MQTTS://h").port == 8883


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            f"mqtt://user:{SECRET}@host:99999/x",
            "--mqtt: port must be 1..65535, got 99999 (mqtt://user:***@host:99999/x)",
        ),
        (f"mqtt://user:{SECRET}@host:0", "port must be 1..65535, got 0"),
        ("mqtt://host:abc", "port must be 1..65535, got abc"),
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
        ("mqtt://host/front door", "spaces and control characters are not allowed"),
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
        assert SECRET not in str(info.value) and "u:***@host" in str(info.value)
