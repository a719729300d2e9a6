"""Issue 30, item 10: a 400-digit number where a number goes (``fps``, a polygon's point, ``min_overlap``,
``width``, any section's key) is one ``ConfigError`` line that says so by its length, never an
``OverflowError``; from YAML too, past Python's 4300-digit limit included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamseg.config import from_dict, load_yaml, source_from
from streamseg.config.numbers import bounded_int, finite, shown
from streamseg.errors import ConfigError

HUGE = 10**400
SQUARE = [[0, 0], [0.5, 0], [0.5, 0.5]]


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ({"fps": HUGE}, "fps must be a finite number, got a 401-digit number"),
        ({"fps": -HUGE}, "fps must be a finite number, got a 401-digit number"),
        ({"fps": 1e300}, "fps must be >= 0 and at most 1000"),
        ({"width": HUGE}, "width must be an integer of at most 18 digits, got a 401-digit number"),
        ({"height": 10**6}, "height must be >= 0 and at most 16384, got 1000000"),
        ({"zones": [{"name": "z", "polygon": [[0, 0], [HUGE, 0], [1, 1]]}]}, "polygon[1] x must be a finite"),
        ({"zones": [{"name": "z", "polygon": SQUARE, "min_overlap": HUGE}]}, "min_overlap must be a finite"),
        ({"zones": [{"name": "z", "polygon": SQUARE, "loiter_seconds": -HUGE}]}, "a 401-digit number"),
        ({"lines": [{"name": "l", "points": [[0, 0], [1, HUGE]]}]}, "points[1] y must be a finite"),
        ({"priority": HUGE}, "priority must be a string, got a 401-digit number"),
        ({"uri": HUGE}, "'uri' must be a path, a URL or a webcam number"),
    ],
)
def test_huge_numbers_in_a_source_are_one_line(source: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        source_from({"uri": "rtsp://cam/x", **source}, "source")
    message = str(info.value)
    assert problem in message and "\n" not in message and len(message) < 200, message


@pytest.mark.parametrize("key", ["model.conf", "model.batch", "latency.budget_ms", "render.alpha"])
def test_huge_numbers_in_a_section_are_one_line(key: str) -> None:
    section, name = key.split(".")
    with pytest.raises(ConfigError, match="a 401-digit number") as info:
        from_dict({section: {name: HUGE}})
    assert len(str(info.value)) < 200


def test_a_yaml_file_with_a_huge_number_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"sources:\n  - {{uri: rtsp://c/x, fps: {'9' * 400}}}\n")
    with pytest.raises(ConfigError, match="fps must be a finite number, got a 400-digit number"):
        load_yaml(config)
    config.write_text(f"model:\n  batch: {'9' * 5000}\n")  # past Python's int-to-str limit
    with pytest.raises(ConfigError, match="a number is too long"):
        load_yaml(config)


def test_the_helpers() -> None:
    assert finite(3, "x") == 3.0 and bounded_int(10**18 - 1, "x") == 10**18 - 1
    for bad in (True, "1", float("nan"), float("inf"), 10**18, None):
        with pytest.raises(ConfigError):
            finite(bad, "x")
    with pytest.raises(ConfigError, match=r"integer of at most 18 digits, got 1\.5"):
        bounded_int(1.5, "x")
    assert shown([HUGE]).endswith("...") and len(shown([HUGE])) == 67
    assert shown(HUGE**11) == "a 4401-digit number"  # past the 4300-digit str limit: counted from bits
