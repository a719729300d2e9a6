"""The privacy scene itself: its ground truth agrees with its pictures, its clip reads back, ``measure``
tells a hidden region from a shown or half-shown one, and the scripted segmenter finds what the scene
put where."""

from __future__ import annotations

import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from streamseg.privacy.hider import Hider
from streamseg.privacy.regions import Region, grown
from streamseg.testing.privacy_scene import (
    CLASS_NAMES,
    PrivacyScene,
    ScriptedSegmenter,
    dilated,
    eroded,
    measure,
)
from streamseg.types import Frame

SCENE = PrivacyScene()


def test_the_object_is_where_its_mask_and_box_say() -> None:
    ax, ay = SCENE.axes
    for i in (0, 7, 29):
        mask, picture = SCENE.object_mask(i), SCENE.frame(i)
        assert abs(int(mask.sum()) - np.pi * (ax + 0.5) * (ay + 0.5)) < 0.02 * mask.sum()
        ys, xs = np.nonzero(mask)
        assert SCENE.object_box(i) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        crop, (x0, y0) = SCENE.object_crop(i)
        assert np.array_equal(mask[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]], crop)
        untouched = ~(mask | SCENE.area_mask())
        assert np.array_equal(picture[untouched], SCENE.background[untouched])
        assert np.abs(picture[mask].astype(int) - SCENE.background[mask]).mean() > 30  # textured
    moved = np.array(SCENE.object_crop(1)[1]) - np.array(SCENE.object_crop(0)[1])
    assert tuple(moved) == SCENE.step
    assert SCENE.frame(3).tobytes() == SCENE.frame(3).tobytes()  # deterministic


def test_an_object_past_the_edge_is_clipped() -> None:
    scene = PrivacyScene(start=(10.0, 120.0), step=(-20.0, 0.0))
    crop, origin = scene.object_crop(0)
    assert origin == (0, 120 - scene.axes[1]) and crop.shape[1] == 10 + scene.axes[0] + 1
    assert scene.object_mask(0).sum() == crop.sum() and scene.frame(0).shape == (240, 320, 3)
    assert scene.object_crop(5)[0].size == 0 and not scene.object_mask(5).any()


def test_the_clip_reads_back_with_its_timestamps_and_texture(tmp_path: Path) -> None:
    times = SCENE.write_video(tmp_path / "s.mp4", 6)
    with av.open(str(tmp_path / "s.mp4")) as container:
        decoded = [(float(f.time or 0.0), f.to_ndarray(format="bgr24")) for f in container.decode(video=0)]
    assert [t for t, _ in decoded] == pytest.approx(times) == [i / SCENE.fps for i in range(6)]
    for i, (_, picture) in enumerate(decoded):
        inside = eroded(SCENE.object_mask(i), 2)
        outside = ~dilated(SCENE.object_mask(i) | SCENE.area_mask(), 4)
        m = measure(picture, SCENE.frame(i), inside, outside)
        assert m.hf_ratio > 0.8 and m.correlation > 0.9 and m.leak > 0.9 and m.outside_diff < 4, m


@pytest.mark.parametrize("style", ["pixelate", "blur"])
def test_measure_tells_hidden_from_shown_and_half_shown(style: str) -> None:
    i = 10
    original = SCENE.frame(i)
    crop, origin = SCENE.object_crop(i)
    hw = (SCENE.height, SCENE.width)
    region = grown(crop, origin, 4, hw)
    assert region is not None
    inside = eroded(SCENE.object_mask(i), 2)
    outside = ~dilated(SCENE.object_mask(i) | SCENE.area_mask(), 24)
    hidden = measure(Hider(style).hide(original, [region]), original, inside, outside)
    assert hidden.hf_ratio < 0.15 and abs(hidden.correlation) < 0.3 and hidden.leak < 0.02, hidden
    assert hidden.outside_diff == 0
    shown = measure(original, original, inside, outside)
    assert shown.hf_ratio == 1 and shown.correlation == pytest.approx(1) and shown.leak == 1, shown
    # hidden a few frames late: the mask lags the object by 12 px, a crescent of it shows
    late = Region(region.crop, (region.origin[0] - 12, region.origin[1]))
    half = measure(Hider(style).hide(original, [late]), original, inside, outside)
    assert half.leak > 0.05, half


def test_the_scripted_segmenter_finds_the_object_and_misses_it_when_told() -> None:
    segmenter = ScriptedSegmenter(SCENE, drop={2}, stills={"b.png": 9})

    def frame(i: int, name: str | None = None) -> Frame:
        return Frame("s", i, i / SCENE.fps, time.monotonic(), SCENE.frame(i), file_name=name)

    results = segmenter.run([frame(1), frame(2), frame(0, "a.png"), frame(0, "b.png")])
    assert [len(r) for r in results] == [1, 0, 1, 1]
    found = results[0]
    assert list(segmenter.class_names) == list(CLASS_NAMES)
    assert found.class_name(0) == "person" and float(found.score[0]) == pytest.approx(0.9)
    assert tuple(found.xyxy[0].tolist()) == SCENE.object_box(1)
    assert np.array_equal(found.masks.full(0), SCENE.object_mask(1))
    assert segmenter.seen == [1, 2, 0, 9]
    assert np.array_equal(results[3].masks.full(0), SCENE.object_mask(9))
    assert [len(r) for r in segmenter.submit([frame(3)])] == [1]  # what the inference thread calls
    with pytest.raises(ValueError, match="scene's size"):
        segmenter.run([Frame("s", 0, 0.0, 0.0, cv2.resize(SCENE.frame(0), (160, 120)))])
    segmenter.close()
    assert segmenter.closed
