"""Fixtures for render tests: synthetic results built from crops, and real frames from the shared assets."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from streamseg.types import Frame, InstanceMasks, SegResult

NAMES = ("person", "bicycle", "car", "dog")

Instance = tuple[tuple[float, float, float, float], int, float, np.ndarray, tuple[int, int]]
MakeResult = Callable[..., SegResult]


def ellipse_crop(h: int, w: int) -> np.ndarray:
    """A filled ellipse touching the crop's edges: a blob, like a real instance mask."""
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    return ((yy - cy) / (h / 2)) ** 2 + ((xx - cx) / (w / 2)) ** 2 <= 1.0


def build_result(image: np.ndarray, instances: Sequence[Instance], source: str = "cam0") -> SegResult:
    """instances: (xyxy, class_id, score, crop, (x0, y0))."""
    h, w = image.shape[:2]
    n = len(instances)
    masks = (
        InstanceMasks(
            tuple(inst[3] for inst in instances),
            np.array([inst[4] for inst in instances], np.int32).reshape(n, 2),
            (h, w),
        )
        if n
        else InstanceMasks.empty((h, w))
    )
    return SegResult(
        frame=Frame(source, 0, 0.0, 0.0, image),
        xyxy=np.array([inst[0] for inst in instances], np.float32).reshape(n, 4),
        class_id=np.array([inst[1] for inst in instances], np.int64).reshape(n),
        score=np.array([inst[2] for inst in instances], np.float32).reshape(n),
        masks=masks,
        class_names=NAMES,
    )


@pytest.fixture
def make_result() -> MakeResult:
    return build_result


@pytest.fixture
def gray_frame() -> np.ndarray:
    """A flat mid-grey 480x640 picture: any drawn pixel stands out."""
    return np.full((480, 640, 3), 100, np.uint8)
