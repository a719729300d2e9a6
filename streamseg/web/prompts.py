"""Click to segment: ``POST /api/prompts/<source>`` adds a point prompt, ``DELETE`` clears the source's.

Body: ``{"fx": 0.42, "fy": 0.61}`` (fractions of the picture, what the page sends) or ``{"x": 540, "y":
440}`` (frame pixels, inside the picture), optionally ``"label": 0`` for a point *off* the object; refused
(409) until the source has shown a picture. These change state, so beyond the dashboard's guard (token,
Host, no request from another site's page: ``guard``) they accept only JSON (a cross-site form cannot
send it without a CORS preflight, which is never granted).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from streamseg.config.numbers import finite
from streamseg.errors import ConfigError
from streamseg.inference.sam.board import PromptBoard
from streamseg.inference.sam.prompts import Prompt
from streamseg.web.bodies import BadBody, json_object

NO_SAM = "click prompts need a SAM model: start the run with --sam CHECKPOINT (or --refine CHECKPOINT)"


class PromptRoutes:
    def __init__(self, board: PromptBoard | None, headers: dict[str, str]) -> None:
        self._board = board
        self._headers = headers

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/prompts/{source}", self._add),
            web.delete("/api/prompts/{source}", self._clear),
        ]

    async def _add(self, request: web.Request) -> web.StreamResponse:
        board, source = self._checked(request)
        try:
            body = await json_object(request, "the click", '{"fx": 0.5, "fy": 0.5}')
        except BadBody as exc:
            return self._error(exc.status, exc.message)
        size = board.frame_size(source)
        if size is None:
            return self._error(409, "no picture from this source yet: click again once it shows")
        try:
            x, y, label = _point(body, size)
            count = board.add(source, Prompt.from_point(x, y, label))
        except ConfigError as exc:
            return self._error(400, str(exc))
        except KeyError:  # removed meanwhile
            raise web.HTTPNotFound(text="no such source\n", headers=self._headers) from None
        return self._json({"source": source, "prompts": count, "x": round(x, 1), "y": round(y, 1)})

    async def _clear(self, request: web.Request) -> web.StreamResponse:
        board, source = self._checked(request)
        try:
            cleared = board.clear(source)
        except KeyError:  # removed meanwhile
            raise web.HTTPNotFound(text="no such source\n", headers=self._headers) from None
        return self._json({"source": source, "cleared": cleared, "prompts": 0})

    def _checked(self, request: web.Request) -> tuple[PromptBoard, str]:
        if self._board is None:
            raise web.HTTPConflict(text=NO_SAM + "\n", headers=self._headers)
        source = request.match_info["source"]
        if source not in self._board.sources:
            raise web.HTTPNotFound(text="no such source\n", headers=self._headers)
        return self._board, source

    def _json(self, data: dict[str, Any]) -> web.Response:
        return web.Response(text=json.dumps(data), content_type="application/json", headers=self._headers)

    def _error(self, status: int, message: str) -> web.Response:
        return web.Response(status=status, text=message + "\n", headers=self._headers)


def _point(body: dict[str, Any], size: tuple[int, int]) -> tuple[float, float, int]:
    """Frame pixels from ``x``/``y`` or from fractions ``fx``/``fy``, inside the picture (w, h)."""
    label = body.get("label", 1)
    if isinstance(label, bool) or label not in (0, 1):
        raise ConfigError("label must be 1 (on the object) or 0 (not on it)")
    if "fx" in body or "fy" in body:
        fx, fy = _number(body, "fx"), _number(body, "fy")
        if not (0 <= fx <= 1 and 0 <= fy <= 1):
            raise ConfigError(f"fx and fy are fractions of the picture (0..1), got {fx:g}, {fy:g}")
        return fx * size[0], fy * size[1], int(label)
    return _number(body, "x"), _number(body, "y"), int(label)  # the board checks they are inside


def _number(body: dict[str, Any], key: str) -> float:
    """A finite number (a 400-digit integer is a 400, not an OverflowError's 500)."""
    return finite(body.get(key), f"'{key}'")
