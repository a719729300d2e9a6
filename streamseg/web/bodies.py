"""Request bodies the dashboard accepts: small JSON objects, read with limits before any work.

The server caps every body at ``MAX_BODY_BYTES`` (aiohttp answers 413 past it, without reading on),
so a megabyte-long "URI" never reaches parsing or redaction. JSON that nests too deeply, or that
spells numbers as ``NaN``/``Infinity`` (Python's parser takes them; JSON has no such numbers), or
holds a number no field can mean (an integer of more than 18 digits, which once reached ``float()``
as an ``OverflowError`` and a 500; a float literal past 1.8e308, which Python reads as infinity) is a
400 with one line, never a traceback.
"""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web

MAX_BODY_BYTES = 64 * 1024  # a source or a click is a few hundred bytes
MAX_INT_DIGITS = 18  # as config.numbers: every count, size and duration fits


class BadBody(Exception):
    """A body the route will not take: ``status`` and a one-line ``message`` for the answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def json_object(request: web.Request, what: str, example: str) -> dict[str, Any]:
    """The body as a JSON object, or ``BadBody`` saying why not (``what``: "the source", "the click")."""
    if request.content_type != "application/json":
        raise BadBody(415, f"send {what} as JSON (Content-Type: application/json)")
    try:
        text = await request.text()
    except web.HTTPRequestEntityTooLarge:
        raise BadBody(413, f"the body is larger than {MAX_BODY_BYTES // 1024} KiB") from None
    try:
        body = json.loads(text, parse_constant=_no_constant, parse_int=_int, parse_float=_float)
    except RecursionError:
        raise BadBody(400, "the JSON is nested too deeply") from None
    except _TooLarge as exc:
        raise BadBody(400, str(exc)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadBody(400, f"the body is not valid JSON{_detail(exc)}") from None
    if not isinstance(body, dict):
        raise BadBody(400, f"the body must be a JSON object: {example}")
    return body


class _NonFinite(ValueError):
    pass


class _TooLarge(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NonFinite(f"{name} is not a JSON number")


def _int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _TooLarge(
            f"a {digits}-digit integer is too large: numbers have at most {MAX_INT_DIGITS} digits"
        )
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _TooLarge(f"{text[:24]}{'...' if len(text) > 24 else ''} is too large for a number")
    return value


def _detail(exc: Exception) -> str:
    return f" ({exc})" if isinstance(exc, _NonFinite) else ""
