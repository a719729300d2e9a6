"""The bodies of ``POST /api/sources``: issue 30, items 4, 9 and 10. A name that is ``..``, ``.``, not a
string or too long, a zone name that shares a slug with another, and a number no field can mean (a
400-digit ``fps``, ``width``, polygon point or ``min_overlap``; once a 500 from ``OverflowError``, or a
201 for the width) are a 400 with one line, and nothing is started. Names in any script are taken."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from streamseg.config import SourceConfig
from streamseg.web.server import DashboardServer
from tests.web.helpers import Reply, send
from tests.web.test_server import _server

HUGE = "9" * 400
SQUARE = "[[0, 0], [0.5, 0], [0.5, 0.5]]"


class Started:
    """What the routes started: the ``SourceControl`` of a run, minus the run."""

    def __init__(self) -> None:
        self.added: list[SourceConfig] = []

    def add_source(self, source: SourceConfig) -> None:
        self.added.append(source)

    def remove_source(self, name: str) -> None:
        """Not asked for here."""


@contextmanager
def serving_sources() -> Iterator[tuple[str, Started]]:
    """The routes served without a run: their URL, and what they start."""
    started = Started()
    server: DashboardServer = _server("127.0.0.1", None, ("cam",), control=started).start()
    try:
        yield f"http://127.0.0.1:{server.port}/api/sources", started
    finally:
        server.stop()


@pytest.fixture
def served() -> Iterator[tuple[str, Started]]:
    with serving_sources() as routes:
        yield routes


def post(url: str, body: Any) -> Reply:
    """JSON, written out by ``raw`` or encoded here."""
    return send("POST", url, body, {"Content-Type": "application/json"})


def raw(fields: str) -> bytes:
    """A body written out, so a 400-digit number goes as digits (as a client would send it)."""
    return ('{"uri": "rtsp://cam.lan/x", ' + fields + "}").encode()


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"uri": "rtsp://cam.lan/x", "name": ".."}, "name must not be '..'"),
        ({"uri": "rtsp://cam.lan/x", "name": "."}, "name must not be '.'"),
        ({"uri": "rtsp://cam.lan/x", "name": None}, "name must be a string, got null"),
        ({"uri": "rtsp://cam.lan/x", "name": 7}, "name must be a string, got int"),
        ({"uri": "rtsp://cam.lan/x", "name": " "}, "name must not be empty"),
        ({"uri": None}, "'uri' must be a path, a URL or a webcam number"),
        (raw(f'"fps": {HUGE}'), "a 400-digit integer is too large"),
        (raw(f'"width": {HUGE}'), "a 400-digit integer is too large"),  # once: 201
        (raw('"fps": 1e400'), "1e400 is too large for a number"),
        (raw(f'"zones": [{{"name": "z", "polygon": [[0, 0], [{HUGE}, 0], [1, 1]]}}]'), "400-digit"),
        (raw(f'"zones": [{{"name": "z", "polygon": {SQUARE}, "min_overlap": {HUGE}}}]'), "400-digit"),
        ({"uri": "rtsp://cam.lan/x", "width": 10**6}, "width must be >= 0 and at most 16384"),
        ({"uri": "rtsp://cam.lan/x", "fps": 1e300}, "fps must be >= 0 and at most 1000"),
        (
            {
                "uri": "rtsp://cam.lan/x",
                "zones": [{"name": n, "polygon": [[0, 0], [1, 0], [1, 1]]} for n in ("a b", "a_b")],
            },
            "rename one",
        ),
    ],
)
def test_bad_names_and_numbers_are_one_line_and_start_nothing(
    served: tuple[str, Started], body: Any, needle: str
) -> None:
    url, started = served
    reply = post(url, body)
    assert reply.status == 400, reply.text
    error = reply.json()["error"]
    assert needle in error and "\n" not in error and len(error) < 300, error
    assert started.added == []


def test_names_in_any_script_are_taken(served: tuple[str, Started]) -> None:
    url, started = served
    for name in ("кухня", "двор"):
        reply = post(url, {"uri": "rtsp://cam.lan/x", "name": name})
        assert (reply.status, reply.json()) == (201, {"name": name, "added": True})
    assert [s.name for s in started.added] == ["кухня", "двор"]
