"""SAM parity with Ultralytics' ``SAM(...).predict`` on the same weights, picture and prompts (issue 12,
item 5): every mask IoU >= 0.98 and the same predicted score. One embedding, one decoder call for all
boxes, box-sized masks: the numbers must not change."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from streamseg.inference.sam import Prompt, SamPredictor
from streamseg.inference.sam.checkpoints import load_sam_network
from tests.conftest import IMAGES, VIDEOS, read_frames, read_image
from tests.inference.yolo.test_parity import mask_iou

MASK_IOU_MIN = 0.98
BOXES = [[40.0, 230.0, 250.0, 900.0], [670.0, 380.0, 810.0, 880.0], [5.0, 5.0, 400.0, 300.0]]
POINTS = [[300.0, 500.0], [700.0, 600.0]]


def reference(checkpoint: Path, image: np.ndarray, **prompts: object) -> tuple[np.ndarray, np.ndarray]:
    from ultralytics import SAM

    result = SAM(str(checkpoint)).predict(image, verbose=False, **prompts)[0]
    return result.masks.data.cpu().numpy().astype(bool), result.boxes.conf.cpu().numpy()


def check(ours: object, masks: np.ndarray, scores: np.ndarray, offset: int = 0) -> None:
    for j in range(len(masks)):
        i = offset + j
        iou = mask_iou(ours.masks.full(i), masks[j])  # type: ignore[attr-defined]
        assert iou >= MASK_IOU_MIN, f"object {i}: mask IoU {iou:.4f}"
        assert float(ours.score[i]) == pytest.approx(float(scores[j]), abs=1e-3)  # type: ignore[attr-defined]
        assert ours.masks.crops[i].any()  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["mobile_sam.pt", "sam2_t.pt"])
def test_points_and_boxes_match_ultralytics(name: str, sam_checkpoint: Callable[[str], Path]) -> None:
    """bus.jpg cut to 810x1000 covers 207.25 mask cells across: Ultralytics resamples through
    ``grid_sample`` there (the 720p test below takes the ``interpolate`` path)."""
    path = sam_checkpoint(name)
    predictor = SamPredictor(*load_sam_network(path))
    image = np.ascontiguousarray(read_image(IMAGES / "bus.jpg")[:1000])
    prompts = [Prompt.from_box(*b) for b in BOXES] + [Prompt.from_point(*p) for p in POINTS]
    prompts.append(Prompt(points=((300.0, 500.0), (420.0, 700.0)), labels=(1, 0)))
    ours = predictor.segment(image, prompts)
    assert len(ours) == len(prompts)
    check(ours, *reference(path, image, bboxes=BOXES))
    check(ours, *reference(path, image, points=POINTS, labels=[1, 1]), offset=len(BOXES))
    check(ours, *reference(path, image, points=[[[300, 500], [420, 700]]], labels=[[1, 0]]), offset=5)


def test_video_frame_matches_ultralytics(sam_checkpoint: Callable[[str], Path]) -> None:
    """A 1280x720 frame: content 256x144 cells, the ``interpolate`` path."""
    path = sam_checkpoint("mobile_sam.pt")
    frame = read_frames(VIDEOS / "street_pedestrians_720p30.mp4", [40])[0]
    boxes = [[100.0, 200.0, 300.0, 600.0], [600.0, 100.0, 1270.0, 710.0]]
    ours = SamPredictor(*load_sam_network(path)).segment(frame, [Prompt.from_box(*b) for b in boxes])
    check(ours, *reference(path, frame, bboxes=boxes))


def test_meta_vit_b_checkpoint_is_ultralytics_sam_b(sam_checkpoint: Callable[[str], Path]) -> None:
    """Meta's ``sam_vit_b_*.pth`` becomes the very network Ultralytics builds for ``sam_b.pt`` (same class,
    same tensors), so the parity above (same code path as MobileSAM) covers it without a 90 s ViT-B run."""
    import torch
    from ultralytics.models.sam.build import build_sam

    net, spec = load_sam_network(sam_checkpoint("sam_vit_b_01ec64.pth"))
    theirs = build_sam(str(sam_checkpoint("sam_b.pt")))
    assert (spec.family, spec.label) == ("sam", "SAM ViT-B")
    assert type(net.image_encoder) is type(theirs.image_encoder)
    ours_sd, their_sd = net.state_dict(), theirs.state_dict()
    assert ours_sd.keys() == their_sd.keys()
    assert all(torch.equal(ours_sd[k], their_sd[k]) for k in ours_sd)
