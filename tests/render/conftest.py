"""Fixtures for render tests: synthetic results built from crops, and real frames from the shared assets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from streamseg.types import Frame, InstanceMasks, SegResult

REPO_ROOT = Path(__file__).resolve().parents[2]
ASSETS = REPO_ROOT.parent / "shared" / "assets"
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


@pytest.fixture(scope="session")
def assets_dir() -> Path:
    # Same policy as tests/conftest.py: shared assets are part of the test setup, so missing is a failure.
    if not ASSETS.is_dir():
        pytest.fail(f"shared assets not found at {ASSETS} (the shared folder must sit beside the checkout)")
    return ASSETS


@pytest.fixture(scope="session")
def vfr_clip(assets_dir: Path) -> Path:
    path = assets_dir / "videos" / "office_person_720p_vfr.mp4"
    if not path.is_file():
        pytest.fail(f"test asset missing: {path}")
    return path


@pytest.fixture(scope="session")
def real_frames(vfr_clip: Path) -> list[tuple[np.ndarray, float]]:
    """The first 45 decoded frames of the VFR clip with their source pts (seconds)."""
    import av

    out: list[tuple[np.ndarray, float]] = []
    with av.open(str(vfr_clip)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            out.append((frame.to_ndarray(format="bgr24"), float(frame.pts * stream.time_base)))
            if len(out) >= 45:
                break
    return out
