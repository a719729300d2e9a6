"""``WebhookSink``: each event POSTed as JSON to one URL, in order, from its own thread.

What a server's answer means here: 2xx delivered; connection errors, timeouts, 408, 429 and 5xx are
"try again" (the event stays at the head of the queue, the worker backs off, ``Retry-After`` is
honoured up to the backoff's maximum); any other status (3xx, 4xx) means the server will never take
this event: it is dropped and counted, and each such status is logged once. Redirects are not followed
(urllib would turn the POST into a GET and lose the body). Uses ``urllib.request``: no dependency.
"""

from __future__ import annotations

import base64
import http.client
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping
from email.message import Message
from typing import IO, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from streamseg.notify.urls import check_webhook_url
from streamseg.notify.worker import CONNECTED, CONNECTING, RECONNECTING, QueuedSink
from streamseg.redact import redact_text, redact_url

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429})  # and every 5xx


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx reaches us as an HTTPError instead of being followed."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


class WebhookSink(QueuedSink[Mapping[str, Any]]):
    """POSTs every event to ``url`` (http or https; ``user:pass@`` becomes Basic auth)."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        queue_size: int = 1000,
        timeout_s: float = 5.0,
        *,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        check_webhook_url(url)
        super().__init__(  # the target, in the status, the events stream and every line: secrets masked
            redact_url(url), queue_size, backoff_initial_s=backoff_initial_s, backoff_max_s=backoff_max_s
        )
        self.timeout_s = timeout_s
        self._url, self._headers = _split_credentials(url)
        self._opener = urllib.request.build_opener(_NoRedirect)
        self._refused: set[int] = set()  # statuses already logged
        self._failing = False  # one warning per outage
        self._start()

    def send(self, event: Mapping[str, Any]) -> None:
        """Queue one event for POSTing. Never blocks; the sink owns ``event`` now."""
        self._put(event)

    def _deliver(self, batch: list[Mapping[str, Any]]) -> int:
        text = self._encode(batch[0])
        if text is None:
            return 1
        status, problem, retry_after = self._post(text.encode("utf-8"))
        if problem is not None:
            self._failed(problem, retry_after)
            return 0
        self._recovered()  # it answered: reachable
        if 200 <= status < 300:
            self._count(delivered=1)
        else:  # it will never take this event
            self._count(dropped=1)
            if status not in self._refused:
                self._refused.add(status)
                logger.warning(
                    "webhook %s answered HTTP %d: event dropped (later events it answers so are dropped "
                    "without a word; see the dropped count)",
                    self.target, status,
                )  # fmt: skip
        return 1

    def _post(self, body: bytes) -> tuple[int, str | None, float | None]:
        """(status or 0, why to retry or None, Retry-After seconds or None)."""
        request = urllib.request.Request(self._url, data=body, method="POST", headers=self._headers)
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                response.read(1 << 16)  # the answer is not used; read a little so the server is not cut off
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
            retry_after = _retry_after(exc.headers.get("Retry-After"))
            exc.close()
            if status in RETRY_STATUSES or status >= 500:
                return status, f"HTTP {status}", retry_after
            return status, None, None
        except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets are OSErrors
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            return 0, redact_text(str(reason)) or type(exc).__name__, None
        return status, None, None

    def _failed(self, problem: str, retry_after: float | None) -> None:
        if self.state != CONNECTING:
            self._set_state(RECONNECTING)
        if not self._failing:
            self._failing = True
            logger.warning(
                "webhook %s: %s; retrying with backoff (up to %d events are kept meanwhile)",
                self.target, problem, self.queue_size,
            )  # fmt: skip
        self._retry_after_s = retry_after

    def _recovered(self) -> None:
        self._set_state(CONNECTED)
        if self._failing:
            self._failing = False
            logger.info("webhook %s: reachable again", self.target)


def _split_credentials(url: str) -> tuple[str, dict[str, str]]:
    """The URL without ``user:pass@`` (urllib would take it for part of the host), and the headers."""
    headers = {"Content-Type": "application/json", "User-Agent": "streamseg"}
    parts = urlsplit(url)
    if parts.username is None:
        return url, headers
    user, password = unquote(parts.username), unquote(parts.password or "")
    headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), headers


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the HTTP-date form is ignored: the backoff applies)."""
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())
