"""Which hosts a stream added through the API (``POST /api/sources``) may reach: ``api.source_hosts`` and
``api.source_schemes``.

Without a rule, whoever may add a source makes the server connect wherever they like: to an admin page
or a database on this machine's loopback (``http://127.0.0.1:6379/``), to the cloud's metadata address
(169.254.169.254, link-local), and, by the answers, tell open ports from closed ones. A host given by
name is resolved and every address it resolves to is judged, so a name pointed at 127.0.0.1 counts as
127.0.0.1. The sources of the config file and the command line are the operator's own: never judged.

Entries: ``*`` (any host but this machine's own), an address (``10.0.0.7``), a network (``10.0.0.0/8``),
a name (``cam1.lan``) or every name under a domain (``*.cams.lan``). This machine's own addresses
(loopback, link-local, its interfaces' addresses, ``0.0.0.0``) are reached only where an entry names
them: the address itself, a loopback or link-local network (``127.0.0.0/8``), or ``localhost`` for
loopback. A wider network never does: ``10.0.0.0/8`` for the cameras does not open this machine's own
10.x address (and through it what listens on every interface behind a firewall).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import psutil

from streamseg.config.uris import ALLOWED_SCHEMES, uri_scheme
from streamseg.errors import ConfigError, SourceError, SourceForbidden
from streamseg.redact import redact_uri

logger = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str], list[Address]]

STREAM_SCHEMES = ALLOWED_SCHEMES - {"file"}
_NAME = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]{0,251}[a-z0-9_])?\.?")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # connecting to 0.0.0.0 reaches this machine


def is_stream(uri: str) -> bool:
    """A URL that connects to another machine (a camera, a server), as opposed to a file or a webcam."""
    return uri_scheme(uri) in STREAM_SCHEMES


def not_reachable(uri: str) -> SourceError:
    """The one answer for a stream the API could not open, whatever the reason (refused, silent, not a
    stream, unknown name): different answers would tell closed ports from open ones."""
    return SourceError(f"cannot open stream {redact_uri(uri)}: not reachable")


@dataclass(frozen=True)
class HostRules:
    """``api.source_hosts`` parsed: what each kind of entry allows."""

    any_remote: bool = False  # "*"
    names: frozenset[str] = frozenset()
    domains: tuple[str, ...] = ()  # "*.cams.lan" -> ".cams.lan"
    networks: tuple[Network, ...] = ()
    loopback: bool = False  # "localhost" listed: loopback addresses are named

    def allows(self, host: str, address: Address, own: bool) -> bool:
        """Whether ``address`` (``host`` resolved) may be reached; ``own``: it is this machine's."""
        holding = [net for net in self.networks if net.version == address.version and address in net]
        if own:
            named = any(n.num_addresses == 1 or n.is_loopback or n.is_link_local for n in holding)
            return named or (self.loopback and address.is_loopback)
        if holding or self.any_remote or host in self.names:
            return True
        return any(host.endswith(d) for d in self.domains)


def parse_host_rules(entries: Iterable[str], key: str = "api.source_hosts") -> HostRules:
    """``ConfigError`` (one line, naming ``key``) for an entry that is neither ``*``, an address, a
    network, a host name nor ``*.domain``."""
    any_remote, names, domains, networks = False, set(), [], []
    for raw in entries:
        if raw.strip() == "*":
            any_remote = True
            continue
        entry = raw.strip().lower().strip("[]").rstrip(".")
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        domain = entry.removeprefix("*.")
        if not _NAME.fullmatch(domain):
            raise ConfigError(f"{key}: {raw!r} is not a host name, an address, a network (10.0.0.0/8) or *")
        if domain != entry:
            domains.append("." + domain)
        else:
            names.add(entry)
    return HostRules(any_remote, frozenset(names), tuple(domains), tuple(networks), "localhost" in names)


def check_source_schemes(schemes: Iterable[str], key: str = "api.source_schemes") -> None:
    for scheme in schemes:
        if scheme.lower() not in STREAM_SCHEMES:
            allowed = ", ".join(sorted(STREAM_SCHEMES))
            raise ConfigError(f"{key}: {scheme!r} is not a stream protocol (use some of {allowed})")


class SourceHosts:
    """The API's rule for streams: ``check(uri)`` raises ``SourceForbidden`` for a scheme or a host it
    does not allow. ``exposed``: the dashboard listens beyond loopback, so without entries this machine's
    own addresses are refused (on loopback, without entries, anything goes: only this machine can ask)."""

    def __init__(
        self,
        entries: Sequence[str] = (),
        schemes: Sequence[str] = (),
        *,
        exposed: bool,
        resolve: Resolver | None = None,
        own: Callable[[], set[Address]] | None = None,
    ) -> None:
        check_source_schemes(schemes)
        self._rules = parse_host_rules(entries) if entries else HostRules(any_remote=True)
        self._judged = bool(entries) or exposed
        self._schemes = frozenset(s.lower() for s in schemes)
        self._resolve = resolve or resolve_host
        self._own = own or interface_addresses

    def check(self, uri: str) -> None:
        """Nothing for a file or a webcam (``api.file_roots`` judges files) or an allowed stream;
        ``SourceForbidden`` for the rest, ``not_reachable`` for a name that does not resolve."""
        scheme = uri_scheme(uri)
        if scheme not in STREAM_SCHEMES:
            return
        shown = redact_uri(uri)
        if self._schemes and scheme not in self._schemes:
            allowed = ", ".join(sorted(self._schemes))
            raise SourceForbidden(f"source {shown}: {scheme}:// is not in api.source_schemes ({allowed})")
        if not self._judged:
            return
        if any(ord(c) < 0x21 or ord(c) == 0x7F for c in uri):  # parsers differ on these: never guess
            raise SourceForbidden(f"source {shown}: spaces and control characters are not accepted")
        try:
            host = (urlsplit(uri).hostname or "").rstrip(".")
        except ValueError:
            host = ""
        if not host or not (_is_address(host) or _NAME.fullmatch(host)):
            raise SourceForbidden(f"source {shown}: it names no host that can be judged")
        addresses = [ipaddress.ip_address(host)] if _is_address(host) else self._resolve(host)
        if not addresses:
            logger.debug("source %s: %s does not resolve", shown, host)
            raise not_reachable(uri)
        own = self._own()
        for address in (_unmapped(a) for a in addresses):
            mine = _is_own(address, own)
            if not self._rules.allows(host, address, mine):
                raise SourceForbidden(_refusal(shown, host, address, mine))


def resolve_host(host: str) -> list[Address]:
    """Every address ``host`` resolves to (the resolver FFmpeg uses); none when it does not."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def interface_addresses() -> set[Address]:
    """This machine's addresses on every interface (read each time: DHCP and VPNs change them)."""
    found: set[Address] = set()
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family in (socket.AF_INET, socket.AF_INET6):
                try:
                    found.add(ipaddress.ip_address(a.address.split("%", 1)[0]))
                except ValueError:
                    continue
    return found


def _is_own(address: Address, interfaces: set[Address]) -> bool:
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address in interfaces
        or (address.version == 4 and address in _THIS_NETWORK)
    )


def _unmapped(address: Address) -> Address:
    """``::ffff:127.0.0.1`` is 127.0.0.1 to the kernel."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _refusal(shown: str, host: str, address: Address, own: bool) -> str:
    where = host if host == str(address) else f"{host} ({address})"
    if own:
        return (
            f"source {shown}: {where} is this machine's own address; streams added through the API "
            "reach it only when api.source_hosts lists it"
        )
    return f"source {shown}: {where} is not among the hosts of api.source_hosts"
