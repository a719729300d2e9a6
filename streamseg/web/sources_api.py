"""``POST /api/sources`` and ``DELETE /api/sources/<name>``: add and retire sources of a running run.

The body of a POST is one source as JSON, with the fields of a source in the YAML config (``uri``,
``name``, ``width``, ``height``, ``fps``). Bad input gets a 4xx with one line ``{"error": "..."}`` and
changes nothing. Both routes change state, so the server's token guard applies to them like to every
route but the probes; a POST must also say it is JSON, which a cross-site form cannot do without a
CORS preflight that this server never grants.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Protocol

from aiohttp import web

from streamseg.config import SourceConfig, source_from
from streamseg.errors import (
    ClusterError,
    ConfigError,
    PipelineStopped,
    SourceError,
    SourceExistsError,
    StreamsegError,
    UnknownSourceError,
)
from streamseg.redact import redact_text

logger = logging.getLogger(__name__)

# Most specific first: SourceExistsError and ConfigError are both ValueErrors, for instance.
STATUS_FOR: tuple[tuple[type[BaseException], int], ...] = (
    (SourceExistsError, 409),
    (UnknownSourceError, 404),
    (PipelineStopped, 409),
    (ConfigError, 400),
    (SourceError, 422),
    (ClusterError, 503),
)


class SourceControl(Protocol):
    """What the routes drive: a ``Pipeline``, or the cluster's controller."""

    def add_source(self, source: SourceConfig) -> Any: ...

    def remove_source(self, name: str) -> Any: ...


def source_routes(control: SourceControl, headers: dict[str, str]) -> list[web.RouteDef]:
    """The two routes, answering with ``headers`` added."""

    async def add(request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/json":
            return _error(415, "send the source as JSON (Content-Type: application/json)", headers)
        try:
            body = json.loads(await request.text())
        except (ValueError, UnicodeDecodeError):
            return _error(400, "the body is not valid JSON", headers)
        if not isinstance(body, dict):
            return _error(400, 'the body must be a JSON object: {"uri": ..., "name": ...}', headers)
        try:
            source = source_from(body, "source")
            await asyncio.to_thread(control.add_source, source)
        except StreamsegError as exc:
            return _failed(exc, headers)
        name = source.display_name()
        logger.info("source %s added through the dashboard", name)
        return _json(201, {"name": name, "added": True}, headers)

    async def remove(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        try:
            await asyncio.to_thread(control.remove_source, name)
        except StreamsegError as exc:
            return _failed(exc, headers)
        logger.info("source %s removed through the dashboard", name)
        return _json(200, {"name": name, "removed": True}, headers)

    return [web.post("/api/sources", add), web.delete("/api/sources/{name}", remove)]


def _failed(exc: StreamsegError, headers: dict[str, str]) -> web.Response:
    status = next((code for kind, code in STATUS_FOR if isinstance(exc, kind)), 500)
    return _error(status, str(exc), headers)


def _error(status: int, message: str, headers: dict[str, str]) -> web.Response:
    return _json(status, {"error": message}, headers)


def _json(status: int, data: dict[str, Any], headers: dict[str, str]) -> web.Response:
    return web.Response(
        status=status, text=redact_text(json.dumps(data)), content_type="application/json", headers=headers
    )
