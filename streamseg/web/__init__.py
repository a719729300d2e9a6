"""The live dashboard: a web page, Prometheus ``/metrics`` and health probes served from the run."""

from __future__ import annotations

from streamseg.web.access import TOKEN_ENV, ListenAddress, parse_listen
from streamseg.web.dashboard import Dashboard

__all__ = ["TOKEN_ENV", "Dashboard", "ListenAddress", "parse_listen"]
