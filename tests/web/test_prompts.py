"""Click to segment on the dashboard: the prompt endpoints, their token and cross-site rules."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from streamseg.errors import ConfigError
from streamseg.inference.sam.board import PromptBoard
from streamseg.web.prompts import NO_SAM, _point
from streamseg.web.server import DashboardServer
from tests.web.helpers import _OPENER, Reply
from tests.web.test_server import TOKEN, _server

SOURCE = "cam"


def send(url: str, method: str, body: object = None, **headers: str) -> Reply:
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    base = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(url, data=data, method=method, headers={**base, **headers})
    try:
        with _OPENER.open(request, timeout=10) as r:
            return Reply(r.status, dict(r.headers), r.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, dict(exc.headers), exc.read())


def serve(token: str | None, board: PromptBoard | None) -> DashboardServer:
    host = "0.0.0.0" if token else "127.0.0.1"
    return _server(host, token, (SOURCE,), prompts=board).start()


@pytest.fixture
def board() -> PromptBoard:
    board = PromptBoard([SOURCE], max_per_source=2)
    board.prompts(SOURCE, (640, 480))  # the inference thread has seen a 640x480 frame
    return board


@pytest.fixture
def loopback(board: PromptBoard) -> Iterator[str]:
    server = serve(None, board)
    try:
        yield f"http://127.0.0.1:{server.port}/api/prompts/{SOURCE}"
    finally:
        server.stop()


def test_clicks_become_point_prompts_and_delete_clears(loopback: str, board: PromptBoard) -> None:
    reply = send(loopback, "POST", {"fx": 0.5, "fy": 0.25})
    assert reply.status == 200 and reply.json() == {"source": SOURCE, "prompts": 1, "x": 320.0, "y": 120.0}
    assert board.prompts(SOURCE)[0].points == ((320.0, 120.0),)
    assert send(loopback, "POST", {"x": 10, "y": 20, "label": 1}).json()["prompts"] == 2
    assert send(loopback, "POST", {"x": 11, "y": 21}).json()["prompts"] == 2  # the oldest went
    assert send(loopback, "DELETE").json() == {"source": SOURCE, "cleared": 2, "prompts": 0}
    assert board.prompts(SOURCE) == []


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"fx": 1.5, "fy": 0.1}, 400, "fractions of the picture"),
        ({"x": 900, "y": 10}, 400, "outside the 640x480 picture"),
        ({"x": "a", "y": 1}, 400, "'x' must be a finite number"),
        ({"x": 10**400, "y": 1}, 400, "a 401-digit integer is too large"),  # once an OverflowError: 500
        (b'{"x": 1e400, "y": 1}', 400, "1e400 is too large for a number"),
        ([1, 2], 400, "must be a JSON object"),
        ({"x": 1e9, "y": -1e9}, 400, "outside the 640x480 picture"),
        (b'{"x": NaN, "y": 1}', 400, "NaN is not a JSON number"),
        (b"[" * 50_000, 400, "nested too deeply"),
        (b'{"x": "' + b"a" * 100_000 + b'"}', 413, "larger than 64 KiB"),
    ],
)
def test_bad_clicks_change_nothing(
    loopback: str, board: PromptBoard, body: object, status: int, needle: str
) -> None:
    reply = send(loopback, "POST", body)
    assert reply.status == status and needle in reply.text
    assert board.prompts(SOURCE) == []


def test_no_click_before_the_source_shows_a_picture(loopback: str) -> None:
    fresh = PromptBoard([SOURCE])
    server = serve(None, fresh)
    try:
        url = f"http://127.0.0.1:{server.port}/api/prompts/{SOURCE}"
        reply = send(url, "POST", {"x": 10, "y": 10})
        assert reply.status == 409 and "no picture from this source yet" in reply.text
        fresh.prompts(SOURCE, (320, 240))
        assert send(url, "POST", {"x": 10, "y": 10}).status == 200
    finally:
        server.stop()


def test_sources_that_join_and_leave_the_board(loopback: str, board: PromptBoard) -> None:
    other = loopback.replace(SOURCE, "door")
    assert send(other, "POST", {"x": 1, "y": 1}).status == 404
    board.add_source("door")
    board.prompts("door", (160, 96))
    assert send(other, "POST", {"x": 1, "y": 1}).json()["prompts"] == 1
    board.remove_source("door")
    assert send(other, "POST", {"x": 1, "y": 1}).status == 404


def test_json_only_same_origin_known_source(loopback: str, board: PromptBoard) -> None:
    form = send(loopback, "POST", None, **{"Content-Type": "text/plain"})
    assert form.status == 415
    foreign = send(loopback, "POST", {"x": 1, "y": 1}, Origin="http://evil.example")
    assert foreign.status == 403 and board.prompts(SOURCE) == []
    assert send(loopback.replace(SOURCE, "nope"), "DELETE").status == 404


def test_the_token_rule_applies(board: PromptBoard) -> None:
    server = serve(TOKEN, board)
    try:
        url = f"http://127.0.0.1:{server.port}/api/prompts/{SOURCE}"
        assert send(url, "POST", {"x": 1, "y": 1}).status == 401
        assert send(url, "POST", {"x": 1, "y": 1}, Authorization=f"Bearer {TOKEN}").status == 200
    finally:
        server.stop()


def test_without_sam_the_answer_says_how_to_get_it() -> None:
    server = serve(None, None)
    try:
        reply = send(f"http://127.0.0.1:{server.port}/api/prompts/{SOURCE}", "POST", {"x": 1, "y": 1})
        assert reply.status == 409 and NO_SAM in reply.text
    finally:
        server.stop()


def test_a_huge_number_past_the_body_check_is_a_400_too() -> None:
    """The check behind the body's: ``_point`` as the click routes call it (issue 30, item 10)."""
    with pytest.raises(ConfigError, match="'x' must be a finite number, got a 401-digit number"):
        _point({"x": 10**400, "y": 1}, (640, 480))
    with pytest.raises(ConfigError, match="'fy' must be a finite number"):
        _point({"fx": 0.5, "fy": -(10**400)}, (640, 480))
