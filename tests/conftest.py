"""Shared fixtures: real media from ../shared/assets, models that need no download."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
ASSETS = (REPO.parent / "shared" / "assets").resolve()
VIDEOS = ASSETS / "videos"
IMAGES = ASSETS / "images"
FIXTURE_PT = ASSETS / "models" / "yolov8n-seg-fixture.pt"

os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_VERBOSE", "false")
os.environ.setdefault("YOLO_OFFLINE", "true")


def require_asset(path: Path) -> Path:
    """Shared assets are part of the test setup: a missing one is an error, not a skip."""
    if not path.exists():
        pytest.fail(f"test asset missing: {path} (the shared assets folder must sit beside the checkout)")
    return path


@pytest.fixture(scope="session")
def engines_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engines")


@pytest.fixture(scope="session")
def random_seg_pt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real YOLOv8n-seg architecture with random weights, saved as Ultralytics .pt (no download).

    PyTorch's default init makes this network's outputs nearly constant (2 distinct scores over 1,200
    anchors), so NMS order would be decided by ties. A seeded Kaiming-normal re-init gives varied
    scores, boxes and masks: a random network that still exercises everything.
    """
    import torch
    from ultralytics import YOLO

    torch.manual_seed(0)
    model = YOLO("yolov8n-seg.yaml")
    for module in model.model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                torch.nn.init.normal_(module.bias, 0.0, 0.5)
        elif isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.normal_(module.weight, 1.0, 0.2)
            torch.nn.init.normal_(module.bias, 0.0, 0.2)
    path = tmp_path_factory.mktemp("models") / "yolov8n-seg-random.pt"
    model.save(str(path))
    return path


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
    import av

    wanted = set(indices)
    frames: list[np.ndarray] = []
    with av.open(str(require_asset(path))) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                frames.append(frame.to_ndarray(format="bgr24"))
            if i >= max(indices):
                break
    return frames


def read_image(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(require_asset(path)))
    if image is None:
        pytest.fail(f"cannot read {path}")
    return np.ascontiguousarray(image)


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


# Random-weight SAM checkpoints from Ultralytics' own builders (no download), made once per session.
# A random SAM rates its masks at or below 0, so Ultralytics' predictor (conf 0.25) keeps none: the
# bias of the IoU head's last layer is raised by 5, as a trained network would score a good mask.
BUILDERS = {
    "mobile_sam.pt": "build_mobile_sam",
    "sam2_t.pt": "build_sam2_t",
    "sam_b.pt": "build_sam_vit_b",
    "sam_vit_b_01ec64.pth": "build_sam_vit_b",  # Meta's file: the same keys as Ultralytics' sam_b.pt
}


def build_random_sam(name: str) -> object:
    import torch
    from ultralytics.models.sam import build

    torch.manual_seed(0)
    net = getattr(build, BUILDERS[name])()
    decoder = getattr(net, "mask_decoder", None) or net.sam_mask_decoder
    with torch.no_grad():
        decoder.iou_prediction_head.layers[-1].bias += 5.0
    return net


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
