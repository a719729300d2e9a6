"""Issue 30, item 7: which hosts a stream added through the API may reach (``api.source_hosts``,
``api.source_schemes``). Names are resolved and every address is judged; this machine's own addresses
(loopback, link-local, its interfaces, 0.0.0.0) only where an entry names them."""

from __future__ import annotations

import ipaddress

import pytest

from streamseg.config import ApiConfig, Config, DashboardConfig, SourceConfig
from streamseg.config.hosts import (
    Address,
    SourceHosts,
    interface_addresses,
    is_stream,
    parse_host_rules,
    resolve_host,
)
from streamseg.errors import ConfigError, SourceError, SourceForbidden

OWN_LAN = "10.9.8.7"  # this machine's own interface address, as the fake says
DNS = {
    "cam.lan": ["192.0.2.10"],
    "inside.lan": ["10.1.2.3"],
    "rebound.example": ["127.0.0.1"],
    "both.example": ["203.0.113.7", "127.0.0.1"],
    "a.cams.lan": ["192.0.2.11"],
    "cams.lan": ["192.0.2.12"],
    "metadata.example": ["169.254.169.254"],
    "localhost": ["127.0.0.1", "::1"],
    "127.1": ["127.0.0.1"],
}


def _resolve(host: str) -> list[Address]:
    return [ipaddress.ip_address(a) for a in DNS.get(host, [])]


def hosts(*entries: str, exposed: bool = True, schemes: tuple[str, ...] = ()) -> SourceHosts:
    own = {ipaddress.ip_address(OWN_LAN), ipaddress.ip_address("127.0.0.1")}
    return SourceHosts(entries, schemes, exposed=exposed, resolve=_resolve, own=lambda: own)


def refused(rule: SourceHosts, uri: str) -> str:
    with pytest.raises(SourceForbidden) as caught:
        rule.check(uri)
    return str(caught.value)


THIS_MACHINE = [
    "http://127.0.0.1:6379/",
    "rtsp://127.0.0.2/x",
    "http://[::1]:8080/",
    "http://[::ffff:127.0.0.1]:8080/",
    "http://0.0.0.0:8080/",
    "http://0.1.2.3/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    f"rtsp://{OWN_LAN}:554/x",
    "http://localhost:8080/",
    "http://127.1:8080/",  # inet_aton's short form, as FFmpeg's resolver reads it
    "http://rebound.example/",  # a name pointed at loopback
    "http://both.example/",  # every address counts, not the first
    "http://metadata.example/",
    "rtsp://user:secret@127.0.0.1/x",
]


@pytest.mark.parametrize("uri", THIS_MACHINE)
def test_off_loopback_this_machine_is_refused_by_default(uri: str) -> None:
    message = refused(hosts(), uri)
    assert "this machine's own address" in message and "api.source_hosts" in message
    assert "secret" not in message


def test_other_hosts_pass_by_default_and_anything_on_loopback() -> None:
    for uri in (
        "rtsp://cam.lan/x",
        "http://192.0.2.5/feed",
        "srt://203.0.113.9:9000",
        "udp://239.1.1.1:5000",
    ):
        hosts().check(uri)
    for uri in THIS_MACHINE:  # the dashboard on loopback: only this machine could ask
        hosts(exposed=False).check(uri)


def test_a_name_that_does_not_resolve_gets_the_answer_of_a_stream_that_does_not_answer() -> None:
    with pytest.raises(
        SourceError, match=r"^cannot open stream rtsp://u:\*\*\*@nowhere.lan/x: not reachable$"
    ):
        hosts().check("rtsp://u:pw@nowhere.lan/x")


def test_listed_hosts_names_domains_and_networks() -> None:
    rule = hosts("cam.lan", "*.cams.lan", "10.0.0.0/8")
    for uri in ("rtsp://cam.lan/x", "rtsp://a.cams.lan/x", "rtsp://10.200.0.1/x", "http://inside.lan/x"):
        rule.check(uri)
    for uri in ("rtsp://cams.lan/x", "rtsp://192.0.2.5/x"):
        assert "is not among the hosts of api.source_hosts" in refused(rule, uri)
    for uri in (f"rtsp://{OWN_LAN}/x", "rtsp://rebound.example/x"):  # the first in 10/8, and still refused
        assert "this machine's own" in refused(rule, uri)


def test_this_machine_only_where_an_entry_names_it() -> None:
    rule = hosts("*", "127.0.0.1")
    rule.check("rtsp://127.0.0.1:8554/x")
    rule.check("rtsp://cam.lan/x")
    rule.check("http://both.example/")  # 203.0.113.7 and 127.0.0.1: both allowed now
    for uri in ("rtsp://127.0.0.2/x", "http://169.254.169.254/", "http://localhost/"):  # ::1 not named
        assert "this machine's own" in refused(rule, uri)
    hosts("localhost").check("rtsp://localhost:8554/x")  # loopback, by its name
    hosts("169.254.0.0/16").check("http://169.254.169.254/")
    hosts("127.0.0.0/8").check("http://127.1:8080/")
    hosts(OWN_LAN).check(f"rtsp://{OWN_LAN}/x")
    for wide in ("0.0.0.0/0", "::/0", "10.0.0.0/8"):  # a wide network never opens this machine
        refused(hosts(wide), f"rtsp://{OWN_LAN}/x")
        refused(hosts(wide), "http://127.0.0.1/")


def test_schemes_and_what_is_not_a_stream() -> None:
    rule = hosts(schemes=("rtsp", "rtsps"))
    rule.check("rtsp://cam.lan/x")
    assert "http:// is not in api.source_schemes (rtsp, rtsps)" in refused(rule, "http://cam.lan/x")
    for uri in ("/videos/a.mp4", "file:///etc/passwd", "0", "/dev/video0"):  # api.file_roots' job
        hosts("cam.lan").check(uri)
        assert not is_stream(uri)


@pytest.mark.parametrize(
    "uri",
    [
        "rtsp://cam.lan\t@127.0.0.1/x",
        "http://cam.lan /x",
        "http://cam.lan\r\n/x",
        "http:///x",
        "rtsp://:554/x",
    ],
)
def test_what_parsers_could_read_differently_is_refused(uri: str) -> None:
    refused(hosts("*"), uri)


@pytest.mark.parametrize("entry", ["a b", "http://cam", "cam/x", "-cam", "*.", "10.0.0.0/33", ""])
def test_entries_that_mean_nothing_are_a_config_error(entry: str) -> None:
    with pytest.raises(ConfigError, match=r"api\.source_hosts"):
        Config(api=ApiConfig(source_hosts=(entry,))).validated()


def test_config_checks_entries_and_schemes_and_never_judges_its_own_sources() -> None:
    rules = parse_host_rules(["*", "Cam.LAN.", "[::1]", "10.0.0.5/8", "*.cams.lan", "localhost"])
    assert (
        rules.any_remote and rules.loopback and "cam.lan" in rules.names and rules.domains == (".cams.lan",)
    )
    assert (
        ipaddress.ip_network("::1/128") in rules.networks
        and ipaddress.ip_network("10.0.0.0/8") in rules.networks
    )
    with pytest.raises(ConfigError, match=r"api\.source_schemes: 'file' is not a stream protocol"):
        Config(api=ApiConfig(source_schemes=("file",))).validated()
    own = Config(  # the operator's own cameras, with the dashboard open to the network: not judged
        sources=(SourceConfig("rtsp://127.0.0.1:8554/x"),),
        dashboard=DashboardConfig(listen="0.0.0.0:8080", token="t" * 16),
        api=ApiConfig(source_hosts=("10.0.0.0/8",), source_schemes=("rtsps",)),
    )
    assert own.validated() is own


def test_the_real_resolver_and_interfaces() -> None:
    assert ipaddress.ip_address("127.0.0.1") in resolve_host("localhost")
    assert resolve_host("nowhere.invalid") == []
    assert ipaddress.ip_address("127.0.0.1") in interface_addresses()
    for uri in (
        "http://localhost:8080/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://[fe80::1%25eth0]/",
    ):
        with pytest.raises(SourceForbidden):  # the resolver FFmpeg uses reads them all as this machine
            SourceHosts(exposed=True).check(uri)
