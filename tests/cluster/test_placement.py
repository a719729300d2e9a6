"""How cameras are split into groups and where an added camera goes (no Ray needed)."""

from __future__ import annotations

import pytest

from streamseg.cluster import placement as plan
from streamseg.config import SourceConfig


def cams(n: int) -> list[SourceConfig]:
    return [SourceConfig(f"rtsp://10.0.0.{i}/s", name=f"c{i}") for i in range(n)]


def names(groups: list[list[SourceConfig]]) -> list[list[str]]:
    return [[c.name for c in g] for g in groups]


def test_fixed_group_size_keeps_camera_order() -> None:
    assert names(plan.split(cams(5), per_group=2, slots=99)) == [["c0", "c1"], ["c2", "c3"], ["c4"]]


@pytest.mark.parametrize(
    ("n", "slots", "sizes"),
    [(7, 3, [3, 2, 2]), (2, 4, [1, 1]), (5, 1, [5]), (4, 0, [4])],
)
def test_one_group_per_slot_as_even_as_possible(n: int, slots: int, sizes: list[int]) -> None:
    groups = plan.split(cams(n), per_group=0, slots=slots)
    assert [len(g) for g in groups] == sizes
    assert [c for g in names(groups) for c in g] == [f"c{i}" for i in range(n)]


def test_no_cameras_no_groups() -> None:
    assert plan.split([], per_group=0, slots=3) == []


def test_an_added_camera_goes_to_the_emptiest_group_with_room() -> None:
    assert plan.group_for_new_camera({"g1": 2, "g2": 1, "g3": 1}, per_group=2) == "g2"
    assert plan.group_for_new_camera({"g1": 2, "g2": 2}, per_group=2) is None  # a new group
    assert plan.group_for_new_camera({"g1": 5, "g2": 3}, per_group=0) == "g2"  # groups never fill
    assert plan.group_for_new_camera({}, per_group=0) is None
    assert plan.next_group_name(["g1", "g3"]) == "g2"
    assert plan.next_group_name([]) == "g1"
