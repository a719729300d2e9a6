"""The one place that imports Ray, and how streamseg connects to a running cluster without hanging.

``ray.init`` retries an address where nothing answers for minutes, so the address is resolved and its
port probed first; a missing Ray names the extra to install.
"""

from __future__ import annotations

import logging
import os
import socket
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from streamseg.errors import BackendUnavailableError, ClusterError

logger = logging.getLogger(__name__)

# How fast Ray notices a lost node: the GCS health check of every node, set on the head when the
# cluster starts (``RAY_health_check_period_ms=500 ... ray start --head``, see ``health_check_env``).
# Ray's defaults (3000 ms, 10000 ms, 5 misses) notice after about 15 s; these after about 1.5-2.5 s.
FAST_HEALTH_CHECK = {
    "health_check_period_ms": 500,
    "health_check_timeout_ms": 500,
    "health_check_failure_threshold": 3,
}

NAMESPACE = "streamseg"
CONTROLLER = "controller"  # the detached controller actor's name in NAMESPACE
ROSTER = "roster"  # the camera list that outlives a controller crash (``roster.py``)
INSTALL_HINT = "pip install 'streamseg[cluster]'"
PROBE_TIMEOUT_S = 3.0


def require_ray() -> ModuleType:
    """``import ray``, or a ``BackendUnavailableError`` that says which extra brings it."""
    try:
        import ray  # noqa: PLC0415 - optional: single-machine use never needs it
    except ImportError:
        raise BackendUnavailableError(
            f"streamseg cluster needs Ray, which is not installed: {INSTALL_HINT}"
        ) from None
    return ray


def connect(address: str | None) -> ModuleType:
    """Join the Ray cluster at ``address`` (``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``) as a driver."""
    ray = require_ray()
    if ray.is_initialized():
        return ray
    target = address or os.environ.get("RAY_ADDRESS") or "auto"
    probe(ray, target)
    try:
        ray.init(
            address=target,
            namespace=NAMESPACE,
            logging_level=logging.WARNING,
            log_to_driver=False,
            configure_logging=False,
        )
    except ValueError as exc:
        if "ray[client]" in str(exc):
            raise BackendUnavailableError(f"ray:// addresses need Ray's client: {INSTALL_HINT}") from None
        raise ClusterError(f"cannot connect to the Ray cluster at {target}: {exc}") from None
    except ConnectionError as exc:
        raise ClusterError(f"cannot connect to the Ray cluster at {target}: {_first_line(exc)}") from None
    return ray


def probe(ray: ModuleType, address: str) -> None:
    """Fail at once, with one line, when nothing listens where the cluster should be."""
    host_port = _host_port(ray, address)
    if host_port is None:
        raise ClusterError(
            "no Ray cluster found on this machine: start one with `ray start --head` "
            "(and `ray start --address HEAD:6379` on the others), or pass --address HOST:PORT"
        )
    host, port = host_port
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClusterError(
            f"no Ray cluster answers at {host}:{port} ({reason}): is `ray start --head` running there?"
        ) from None


def _host_port(ray: ModuleType, address: str) -> tuple[str, int] | None:
    if address.startswith("ray://"):
        parts = urlsplit(address)
        return (parts.hostname or "127.0.0.1", parts.port or 10001)
    if address == "auto":
        resolved = _latest_local_cluster(ray)
        if resolved is None:
            return None
        address = resolved
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ClusterError(f"--address must be auto, HOST:PORT or ray://HOST:PORT, got {address!r}")
    return (host.strip("[]") or "127.0.0.1", int(port))


def _latest_local_cluster(ray: ModuleType) -> str | None:
    """The GCS address of the latest ``ray start`` on this machine (what ``auto`` connects to)."""
    try:
        services: Any = ray._private.services  # no public API resolves "auto" without connecting
        address = services.canonicalize_bootstrap_address("auto")
    except Exception:
        logger.debug("cannot resolve the 'auto' Ray address", exc_info=True)
        return None
    return str(address) if address else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def health_check_env() -> dict[str, str]:
    """``FAST_HEALTH_CHECK`` as the environment variables ``ray start --head`` reads."""
    return {f"RAY_{key}": str(value) for key, value in FAST_HEALTH_CHECK.items()}


def node_id() -> str:
    """The Ray node id (hex) of the calling process (inside an actor: the node it runs on)."""
    ray = require_ray()
    return str(ray.get_runtime_context().get_node_id())
