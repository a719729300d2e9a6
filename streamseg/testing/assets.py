"""The shared media and models (clips, pictures, the trained fixture network), read-only, beside the
checkout: ``<root>/main`` is the repository, ``<root>/shared/assets`` the assets (or set
``STREAMSEG_ASSETS``). A missing asset is an error that says where it was looked for."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
ASSETS = Path(os.environ.get("STREAMSEG_ASSETS") or (REPO.parent / "shared" / "assets")).resolve()
VIDEOS = ASSETS / "videos"
IMAGES = ASSETS / "images"
FIXTURE_PT = ASSETS / "models" / "yolov8n-seg-fixture.pt"


class AssetMissing(FileNotFoundError):
    """A shared asset is not where it should be."""


def asset(path: Path) -> Path:
    """``path``, which must exist: the shared assets folder sits beside the checkout."""
    if not path.exists():
        raise AssetMissing(
            f"test asset missing: {path} (the shared assets folder must sit beside the checkout)"
        )
    return path


def read_frames(path: Path, indices: list[int]) -> list[np.ndarray]:
    """Selected BGR frames of a real clip, decoded with PyAV."""
    import av  # noqa: PLC0415

    wanted = set(indices)
    frames: list[np.ndarray] = []
    with av.open(str(asset(path))) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                frames.append(frame.to_ndarray(format="bgr24"))
            if i >= max(indices):
                break
    return frames


def read_image(path: Path) -> np.ndarray:
    import cv2  # noqa: PLC0415

    image = cv2.imread(str(asset(path)))
    if image is None:
        raise AssetMissing(f"cannot read {path}")
    return np.ascontiguousarray(image)
