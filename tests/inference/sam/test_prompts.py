"""Prompt syntax on the command line and the checks that keep prompts inside the picture."""

from __future__ import annotations

import pytest

from streamseg.errors import ConfigError
from streamseg.inference.sam.prompts import Prompt, check_prompts, parse_boxes, parse_points


def test_points_are_one_object_and_boxes_one_object_each() -> None:
    assert parse_points("500,375") == Prompt(points=((500.0, 375.0),), labels=(1,))
    assert parse_points(" 1,2 ; 3.5,4:0 ;5,6:1") == Prompt(
        points=((1.0, 2.0), (3.5, 4.0), (5.0, 6.0)), labels=(1, 0, 1)
    )
    assert parse_boxes("1,2,30,40;5,6,7,8") == [Prompt.from_box(1, 2, 30, 40), Prompt.from_box(5, 6, 7, 8)]
    assert parse_boxes("1,2,30,40")[0].kind == ("box", 2)


@pytest.mark.parametrize(
    ("text", "needle"),
    [("500", "expected X,Y"), ("a,b", "expected X,Y"), ("1,2:7", "label must be 1"),
     ("1,2:0", "at least one"), (";", "nothing given"), ("1,nan", "expected X,Y")],
)  # fmt: skip
def test_bad_points(text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_points(text)


def test_bad_boxes_and_prompts_outside_the_picture() -> None:
    with pytest.raises(ConfigError, match="expected X1,Y1,X2,Y2"):
        parse_boxes("1,2,3")
    with pytest.raises(ConfigError, match=r"point 900,10 is outside the 810x1080 picture"):
        check_prompts([parse_points("900,10")], 810, 1080)
    with pytest.raises(ConfigError, match=r"box corner -1,5 is outside"):
        check_prompts(parse_boxes("-1,5,10,10"), 810, 1080)
    with pytest.raises(ConfigError, match="is empty: write it as X1,Y1,X2,Y2"):
        check_prompts(parse_boxes("50,50,10,60"), 810, 1080)
    check_prompts([parse_points("810,1080"), *parse_boxes("0,0,810,1080")], 810, 1080)
