"""Exponential backoff with jitter, and a cheap "did the server come back?" probe.

Waiting is done in short slices so a stop request is honoured at once, and a TCP probe ends the wait
early when a port that refused connections starts accepting them again: a restarted camera is back
within a second or so, whatever the backoff had grown to.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "rtmps": 443, "http": 80, "https": 443}
_SLICE_S = 0.25


class Backoff:
    """Delays ``initial * 2**n``, capped at ``maximum``, each scaled by a random factor in ``1 +- jitter``."""

    def __init__(
        self,
        initial_s: float,
        maximum_s: float,
        jitter: float = 0.2,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._initial = initial_s
        self._max = maximum_s
        self._jitter = jitter
        self._rng = rng
        self.failures = 0

    def next_delay(self) -> float:
        """The wait before the next attempt; each call counts one more failure."""
        base = min(self._max, self._initial * 2.0 ** min(self.failures, 32))
        self.failures += 1
        factor = 1.0 + self._jitter * (2.0 * self._rng() - 1.0)
        return min(self._max, base * factor)

    def reset(self) -> None:
        self.failures = 0


def probe_address(uri: str) -> tuple[str, int] | None:
    """(host, port) to probe for a network URI; None when it has no TCP endpoint we know."""
    if "://" not in uri:
        return None
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if parts.hostname is None or scheme not in _DEFAULT_PORTS:
        return None
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        return None
    return parts.hostname, port


def port_open(address: tuple[str, int], timeout_s: float = 0.2) -> bool:
    try:
        with socket.create_connection(address, timeout=timeout_s):
            return True
    except OSError:
        return False


def wait(
    seconds: float,
    stop: threading.Event,
    address: tuple[str, int] | None = None,
    probe: Callable[[tuple[str, int]], bool] = port_open,
) -> bool:
    """Sleep up to ``seconds``; False if ``stop`` was set. Ends early when ``address`` starts accepting."""
    deadline = time.monotonic() + seconds
    was_closed = address is not None and not probe(address)
    while (left := deadline - time.monotonic()) > 0:
        if stop.wait(min(_SLICE_S, left)):
            return False
        if was_closed and address is not None and probe(address):
            return True  # the server is back: try now rather than at the end of the backoff
    return not stop.is_set()
