"""``POST /api/sources`` with a ``privacy`` section: taken as the YAML's is, and a bad one is a 400 with one
line naming its key, and nothing is started. The routes are served without a run (as in
``test_bodies_sources``): what they would start is kept."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from streamseg.config import PrivacyArea, SourcePrivacy
from tests.web.test_bodies_sources import Started, post, serving_sources

CAM = "rtsp://cam.lan/x"


@pytest.fixture
def routes() -> Iterator[tuple[str, Started]]:
    with serving_sources() as served:
        yield served


def test_a_source_with_its_privacy_section_is_started(routes: tuple[str, Started]) -> None:
    url, started = routes
    body = {
        "uri": CAM,
        "name": "door",
        "privacy": {"objects": [], "areas": [{"polygon": [[0, 0], [1, 0], [1, 1]]}]},
    }
    reply = post(url, body)
    assert (reply.status, reply.json()) == (201, {"name": "door", "added": True})
    area = PrivacyArea(((0.0, 0.0), (1.0, 0.0), (1.0, 1.0)))
    assert [s.privacy for s in started.added] == [SourcePrivacy(objects=(), areas=(area,))]


@pytest.mark.parametrize(
    ("privacy", "line"),
    [
        ({"grow": -3}, "source.privacy.grow must be an integer 0..256 (pixels), got -3"),
        ({"style": "sepia"}, "source.privacy.style must be one of blur, pixelate, fill, got 'sepia'"),
        (
            {"colour": "red"},
            "source.privacy: unknown key 'colour' (valid: areas, grow, max_gap, objects, style)",
        ),
        ({"max_gap": 0}, "source.privacy.max_gap must be 0.05..3600 seconds, got 0"),
        (
            {"areas": [{"polygon": [[0, 0], [1, 1]]}]},
            "source.privacy.areas[0].polygon needs at least 3 points, got 2",
        ),
        ("person", "source.privacy must be a mapping with any of: areas, grow, max_gap, objects, style"),
    ],
)
def test_a_bad_section_is_a_400_with_one_line(routes: tuple[str, Started], privacy: Any, line: str) -> None:
    url, started = routes
    reply = post(url, {"uri": CAM, "privacy": privacy})
    assert reply.status == 400, reply.text
    assert reply.json()["error"].endswith(line), reply.text
    assert "\n" not in reply.json()["error"]
    assert started.added == []
