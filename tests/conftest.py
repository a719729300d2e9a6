"""Shared fixtures: real media from ../shared/assets, models that need no download."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from streamseg.testing.assets import ASSETS, FIXTURE_PT, IMAGES, REPO, VIDEOS, AssetMissing, asset
from streamseg.testing.assets import read_frames as _read_frames
from streamseg.testing.assets import read_image as _read_image
from streamseg.testing.models import build_random_sam, save_random_seg_pt

__all__ = ["ASSETS", "FIXTURE_PT", "IMAGES", "REPO", "VIDEOS", "build_random_sam"]

os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_VERBOSE", "false")
os.environ.setdefault("YOLO_OFFLINE", "true")


def require_asset(path: Path) -> Path:
    """Shared assets are part of the test setup: a missing one is an error, not a skip."""
    try:
        return asset(path)
    except AssetMissing as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def engines_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engines")


@pytest.fixture(scope="session")
def random_seg_pt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real YOLOv8n-seg architecture with random weights, saved as Ultralytics .pt (no download)."""
    return save_random_seg_pt(tmp_path_factory.mktemp("models") / "yolov8n-seg-random.pt")


@pytest.fixture(scope="session")
def random_seg_onnx(random_seg_pt: Path, engines_dir: Path) -> Path:
    from streamseg.inference.model_files import resolve_model

    return resolve_model(str(random_seg_pt), engines_dir)


@pytest.fixture(scope="session")
def trained_seg_onnx(engines_dir: Path) -> Path:
    """The trained (inaccurate but realistic) fixture network from the shared assets, exported once."""
    if not FIXTURE_PT.exists():
        pytest.skip(f"trained fixture model not present at {FIXTURE_PT}")
    from streamseg.inference.model_files import resolve_model

    return resolve_model(str(FIXTURE_PT), engines_dir)


def read_frames(path: Path, indices: list[int]) -> list[np.ndarray]:
    """Selected BGR frames of a real clip, decoded with PyAV."""
    return _read_frames(require_asset(path), indices)


def read_image(path: Path) -> np.ndarray:
    try:
        return _read_image(require_asset(path))
    except AssetMissing as exc:
        pytest.fail(str(exc))


@pytest.fixture
def no_stray_threads() -> Iterator[None]:
    """Fails a test that leaves pipeline threads running."""
    import threading

    before = {t.ident for t in threading.enumerate()}
    yield
    names = ("capture-", "inference", "render")
    left = [
        t.name
        for t in threading.enumerate()
        if t.ident not in before and t.is_alive() and t.name.startswith(names)
    ]
    assert not left, f"threads still running: {left}"


@pytest.fixture(scope="session")
def sam_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``sam_checkpoint("mobile_sam.pt")`` -> a saved state dict under that (Ultralytics-recognised) name."""
    import torch

    folder = tmp_path_factory.mktemp("sam")
    made: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in made:
            path = folder / name
            torch.save(build_random_sam(name).state_dict(), path)  # type: ignore[attr-defined]
            made[name] = path
        return made[name]

    return make


@pytest.fixture(scope="session")
def vfr_clip() -> Path:
    """The shared variable-frame-rate clip (a phone's recording: real, irregular timestamps)."""
    return require_asset(VIDEOS / "office_person_720p_vfr.mp4")


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
