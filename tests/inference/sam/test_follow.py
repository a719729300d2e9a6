"""A dashboard click follows its object: after each frame the point moves to the middle of the mask it
gave (the pixel farthest from the mask's edge), so the next frame asks about the same object."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from streamseg.inference.sam import Prompt, SamPredictor
from streamseg.inference.sam.board import PromptBoard
from streamseg.inference.sam.checkpoints import load_sam_network
from streamseg.inference.sam.stage import follow, innermost_point
from streamseg.types import InstanceMasks
from tests.conftest import IMAGES, read_image


def masks_of(*crops_at: tuple[np.ndarray, tuple[int, int]]) -> InstanceMasks:
    crops = tuple(crop for crop, _ in crops_at)
    origins = np.array([origin for _, origin in crops_at], np.int32).reshape(-1, 2)
    return InstanceMasks(crops, origins, (480, 640))


def test_the_innermost_point_is_on_the_mask_even_when_it_is_not_convex() -> None:
    square = np.zeros((9, 9), bool)
    square[2:7, 2:7] = True
    assert innermost_point(square) == (4, 4)
    ell = np.zeros((40, 40), bool)
    ell[:, :8] = True  # a tall bar ...
    ell[32:, :] = True  # ... and a foot: the centroid (x 11, y 25) is off the mask
    x, y = innermost_point(ell)  # type: ignore[misc]
    assert ell[y, x]
    full = np.ones((5, 7), bool)  # the crop's border counts as the mask's edge: the middle row
    assert innermost_point(full) in {(2, 2), (3, 2), (4, 2)}
    assert innermost_point(np.zeros((4, 4), bool)) is None
    assert innermost_point(np.zeros((0, 0), bool)) is None


def test_a_click_moves_to_the_middle_of_its_mask() -> None:
    board = PromptBoard(["cam"])
    click = Prompt.from_point(10, 10)
    board.add("cam", click)
    square = np.zeros((20, 30), bool)
    square[5:15, 10:20] = True
    follow(board, "cam", [click], masks_of((square, (100, 50))))
    assert board.prompts("cam") == [Prompt.from_point(114, 59)]  # crop (14, 9) + origin (100, 50)


def test_what_does_not_move() -> None:
    board = PromptBoard(["cam"])
    lost, box, two_points = (
        Prompt.from_point(5, 5),
        Prompt.from_box(0, 0, 50, 50),
        Prompt(points=((1.0, 1.0), (9.0, 9.0)), labels=(1, 0)),
    )
    for prompt in (lost, box, two_points):
        board.add("cam", prompt)
    blob = np.ones((6, 6), bool)
    empty = np.zeros((6, 6), bool)
    follow(board, "cam", [lost, box, two_points], masks_of((empty, (0, 0)), (blob, (0, 0)), (blob, (0, 0))))
    assert board.prompts("cam") == [lost, box, two_points]  # an empty mask: the object left; keep the point
    cleared = Prompt.from_point(7, 7)
    follow(board, "cam", [cleared], masks_of((blob, (0, 0))))  # cleared meanwhile: nothing comes back
    assert board.prompts("cam") == [lost, box, two_points]


def test_with_sam_the_moved_point_lies_on_the_object_it_segmented(
    sam_checkpoint: Callable[[str], Path],
) -> None:
    predictor = SamPredictor(*load_sam_network(sam_checkpoint("mobile_sam.pt")))
    image = read_image(IMAGES / "bus.jpg")
    board = PromptBoard(["bus"])
    click = Prompt.from_point(300, 500)
    board.add("bus", click)
    out = predictor.segment(image, [click])
    assert out.masks.crops[0].any()
    follow(board, "bus", [click], out.masks)
    ((x, y),) = board.prompts("bus")[0].points
    assert out.masks.full(0)[int(y), int(x)]
    again = predictor.segment(image, board.prompts("bus"))  # the same picture: the same object
    inter = np.logical_and(again.masks.full(0), out.masks.full(0)).sum()
    assert inter > 0
