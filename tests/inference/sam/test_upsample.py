"""Box-sized SAM masks: the separable weights reproduce PyTorch's bilinear resampling exactly as
Ultralytics' ``scale_masks`` uses it, on both of its paths, and crops cover only the mask."""

from __future__ import annotations

import numpy as np
import pytest

from streamseg.inference.sam.upsample import LOW_RES, MaskUpsampler, axis_weights


@pytest.mark.parametrize(("frame_hw", "path"), [((720, 1280), "interpolate"), ((1000, 810), "grid_sample")])
def test_same_logits_as_ultralytics_scale_masks(frame_hw: tuple[int, int], path: str) -> None:
    import torch
    from ultralytics.utils import ops

    torch.manual_seed(0)
    logits = torch.randn(3, LOW_RES, LOW_RES) * 4
    h, w = frame_hw
    gain = min(1024 / h, 1024 / w)
    ratio = [round(o * gain) * LOW_RES / 1024 / o for o in frame_hw]
    theirs = ops.scale_masks(logits[None], frame_hw, (ratio, (0, 0)), padding=False)[0].numpy()
    content = [round(o * gain) * LOW_RES / 1024 for o in frame_hw]
    grid = path == "grid_sample"
    assert grid == any(abs(c - round(c)) > 1e-6 for c in content)
    wy, wx = axis_weights(h, content[0], grid), axis_weights(w, content[1], grid)
    ours = wy @ logits.numpy() @ wx.T
    # grid_sample's coordinates go through affine_grid in float32: differences of ~1e-4 of the value.
    np.testing.assert_allclose(ours, theirs, atol=1e-3)

    masks, boxes = MaskUpsampler(frame_hw, 1024, torch.device("cpu"))(logits)
    for n in range(3):
        flipped = masks.full(n) != (theirs[n] > 0)
        assert flipped.sum() <= 1e-4 * flipped.size  # only where the logit is within 1e-3 of 0
        assert np.abs(theirs[n][flipped]).max(initial=0) < 1e-3
        ys, xs = np.nonzero(theirs[n] > 0)
        np.testing.assert_allclose(boxes[n], (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), atol=1)
        assert masks.crops[n].shape == (boxes[n][3] - boxes[n][1], boxes[n][2] - boxes[n][0])


def test_a_small_mask_costs_its_box_and_an_empty_one_nothing() -> None:
    import torch

    logits = torch.full((2, LOW_RES, LOW_RES), -5.0)
    logits[0, 100:110, 40:44] = 5.0
    masks, boxes = MaskUpsampler((720, 1280), 1024, torch.device("cpu"))(logits)
    crop = masks.crops[0]  # 10 x 4 cells of 5 x 5 pixels (720p is 256 x 144 cells)
    assert 45 <= crop.shape[0] <= 55 and 15 <= crop.shape[1] <= 25 and crop[crop.shape[0] // 2].all()
    assert masks.crops[1].shape == (0, 0) and tuple(boxes[1]) == (0, 0, 0, 0)
    assert masks.full(1).sum() == 0
