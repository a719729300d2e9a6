"""``POST /api/sources`` and ``DELETE /api/sources/<name>``: add and retire sources of a running run.

The body of a POST is one source as JSON, with the fields of a source in the YAML config (``uri``,
``name``, ``width``, ``height``, ``fps``, ``priority``). Bad input gets a 4xx with one line ``{"error":
"..."}`` and changes nothing. Both routes change state, so the server's guard applies (token, Host,
and no request from another site's page); a POST must also say it is JSON, which a cross-site form
cannot do without a CORS preflight that this server never grants. Sources are clients (no listening
URIs, see ``uri_policy``), local files come only from ``api.file_roots``, streams only from the hosts
of ``api.source_hosts`` (``GuardedControl``, see ``config/hosts``), and a run takes at most
``sources.max`` sources (``pipeline.admission``). A stream that cannot be opened gets one answer, after
one wait, whatever the reason: different answers would make the API a port scanner.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from streamseg.capture.webcam import parse_webcam_uri
from streamseg.config import Config, SourceConfig, source_from
from streamseg.config.hosts import SourceHosts, is_stream, not_reachable
from streamseg.config.uris import check_client_uri, uri_scheme
from streamseg.errors import (
    ClusterError,
    ConfigError,
    PipelineStopped,
    SourceError,
    SourceExistsError,
    SourceForbidden,
    SourceLimitError,
    StreamsegError,
    UnknownSourceError,
)
from streamseg.redact import redact_text, redact_uri
from streamseg.web.access import ListenAddress
from streamseg.web.bodies import BadBody, json_object

logger = logging.getLogger(__name__)

# Most specific first: SourceExistsError and ConfigError are both ValueErrors, for instance.
STATUS_FOR: tuple[tuple[type[BaseException], int], ...] = (
    (SourceForbidden, 403),
    (SourceExistsError, 409),
    (SourceLimitError, 409),
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


class GuardedControl:
    """A control as the API drives it: streams only to the schemes and hosts the run allows
    (``api.source_schemes``, ``api.source_hosts``), and for every stream that cannot be opened one answer,
    given no sooner than a camera that does not answer would get it (``pipeline.source_timeout_s``): a
    closed port (refused at once), a silent one and one that speaks no video read the same. The reason
    goes to the log, at debug level."""

    def __init__(self, control: SourceControl, hosts: SourceHosts, answer_after_s: float) -> None:
        self._control = control
        self._hosts = hosts
        self._answer_after_s = answer_after_s

    @classmethod
    def for_run(cls, control: SourceControl, config: Config, address: ListenAddress) -> GuardedControl:
        """The rule of ``config`` for a dashboard listening on ``address``: off loopback, without
        ``api.source_hosts``, never this machine's own addresses."""
        api = config.api
        hosts = SourceHosts(api.source_hosts, api.source_schemes, exposed=not address.is_loopback)
        return cls(control, hosts, config.pipeline.source_timeout_s)

    def add_source(self, source: SourceConfig) -> Any:
        """Judged, then added; runs on a worker thread (names are resolved, streams opened)."""
        started = time.monotonic()
        try:
            self._hosts.check(source.uri)
            return self._control.add_source(source)
        except SourceError as exc:
            if not is_stream(source.uri):
                raise
            shown = redact_uri(source.uri)
            logger.debug("source %s (%s) not added: %s", source.display_name(), shown, redact_text(str(exc)))
            time.sleep(max(0.0, started + self._answer_after_s - time.monotonic()))
            raise not_reachable(source.uri) from None

    def remove_source(self, name: str) -> Any:
        return self._control.remove_source(name)


def source_routes(
    control: SourceControl, headers: dict[str, str], file_roots: Sequence[str] = ()
) -> list[web.RouteDef]:
    """The two routes, answering with ``headers`` added. Local files are taken only from under
    ``file_roots`` (``api.file_roots``)."""
    roots = FileRoots(file_roots)

    async def add(request: web.Request) -> web.StreamResponse:
        try:
            body = await json_object(request, "the source", '{"uri": ..., "name": ...}')
        except BadBody as exc:
            return _error(exc.status, exc.message, headers)
        try:
            source = source_from(body, "source")
            check_client_uri(source.uri, allow_listen=True)  # the protocol; listening is the run's to judge
            local = roots.check(source.uri)
            try:
                await asyncio.to_thread(control.add_source, source)
            except SourceError as exc:
                if local is None:
                    raise
                # One answer for missing, unreadable and not-a-video: no oracle for what files exist.
                raise SourceError(f"{local}: not a playable video file under api.file_roots") from exc
        except StreamsegError as exc:
            return _failed(exc, headers)
        name = source.display_name()
        logger.info("source %s added through the dashboard", name)
        return _json(201, {"name": name, "added": True}, headers)

    async def remove(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        try:
            done = await asyncio.to_thread(control.remove_source, name)
        except StreamsegError as exc:
            return _failed(exc, headers)
        logger.info("source %s removed through the dashboard", name)
        # A Pipeline says whether the recording is finalized yet (False: it finishes in the background).
        return _json(200, {"name": name, "removed": True, "finalizing": done is False}, headers)

    return [web.post("/api/sources", add), web.delete("/api/sources/{name}", remove)]


class FileRoots:
    """Which local files the API may start: those under ``api.file_roots`` (symlinks and ``..`` resolved
    first); none when no root is configured. Cameras, streams and webcams are not files."""

    def __init__(self, roots: Sequence[str]) -> None:
        self._roots = [Path(r).expanduser().resolve() for r in roots]

    def check(self, uri: str) -> str | None:
        """None for a non-file source; the path as given for an allowed file; ``SourceForbidden`` else
        (the same answer whether the file exists or not)."""
        scheme = uri_scheme(uri)
        if scheme not in ("", "file") or (not scheme and parse_webcam_uri(uri) is not None):
            return None
        given = uri[len("file://") :] if scheme == "file" else uri
        try:
            resolved = Path(given).expanduser().resolve()
        except (OSError, RuntimeError, ValueError):
            resolved = None
        if resolved is None or not any(resolved.is_relative_to(root) for root in self._roots):
            where = "api.file_roots" if self._roots else "api.file_roots (none is configured)"
            raise SourceForbidden(f"{given}: local files can be added only from folders in {where}")
        return given


def _failed(exc: StreamsegError, headers: dict[str, str]) -> web.Response:
    status = next((code for kind, code in STATUS_FOR if isinstance(exc, kind)), 500)
    return _error(status, str(exc), headers)


def _error(status: int, message: str, headers: dict[str, str]) -> web.Response:
    return _json(status, {"error": message}, headers)


def _json(status: int, data: dict[str, Any], headers: dict[str, str]) -> web.Response:
    return web.Response(
        status=status, text=redact_text(json.dumps(data)), content_type="application/json", headers=headers
    )
