"""``--publish``: issue 30, item 11 (a URL that did not parse is never quoted: a password with an
unencoded '#', '/', '?' or space once showed as the port) and item 9 (each source its own path, in any
script)."""

from __future__ import annotations

import pytest

from streamseg.config import OutputConfig, from_dict
from streamseg.config.publish import check_publish_url, publish_url_for
from streamseg.errors import ConfigError

BROKEN = ["Qw#Zk", "Qw/Zk", "Qw?Zk", "Qw Zk"]


@pytest.mark.parametrize("password", BROKEN)
@pytest.mark.parametrize(
    "template",
    [
        "rtsp://Uxv:{}@hostq.lan:8554/{{source}}",
        "rtmp://{}@hostq.lan/live/{{source}}",
        "srt://hostq:{}@x:9000",
    ],
)
def test_a_password_that_breaks_the_url_is_never_quoted(template: str, password: str) -> None:
    url = template.format(password)
    with pytest.raises(ConfigError) as info:
        check_publish_url(url)
    message = str(info.value)
    assert message.startswith("--publish: ") and "percent-encode" in message and "\n" not in message
    for part in ("Qw", "Zk", "Uxv", "hostq"):
        assert part not in message, (part, message)
    with pytest.raises(ConfigError) as from_config:  # the same line from a config file
        from_dict({"output": {"publish": url}})
    assert str(from_config.value) == message


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("Uxv:Qw@hostq/x", "--publish: no scheme (use rtsp://"),
        ("http://Uxv:Qw@hostq/x", "--publish: unsupported scheme 'http' (use rtsp://"),
        ("rtsp://Uxv:Qw@hostq:99999/x", "the port must be a number 1..65535"),
        ("rtsp://Uxv:Qw@hostq:abc/x", "the port must be a number 1..65535"),  # once: "... as 'abc'"
        ("rtsp://Uxv:Qw@/x", "no host"),
    ],
)
def test_other_bad_urls_say_what_is_wrong_without_quoting_them(url: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_publish_url(url)
    assert problem in str(info.value) and "Qw" not in str(info.value) and "hostq" not in str(info.value)


def test_good_urls_pass_and_each_source_gets_its_own_path() -> None:
    check_publish_url("rtsp://user:pa%23ss@mediamtx:8554/{source}")
    assert OutputConfig(publish="rtmp://h/live/{source}").publish
    template = "rtsp://mediamtx:8554/cams/{source}"
    paths = {publish_url_for(template, name) for name in ("кухня", "двор", "door", "a b", "..")}
    assert paths == {
        "rtsp://mediamtx:8554/cams/xn--j1agri5c",
        "rtsp://mediamtx:8554/cams/xn--b1ad5ai",
        "rtsp://mediamtx:8554/cams/door",
        "rtsp://mediamtx:8554/cams/a_b",
        "rtsp://mediamtx:8554/cams/__",
    }
    assert all(path.isascii() for path in paths)
