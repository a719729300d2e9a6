"""The render thread's privacy step: a source's frame is replaced by its hidden picture (what every output
then reads), its masks kept and marked; sources without privacy pass through untouched."""

from __future__ import annotations

import numpy as np
import pytest

from streamseg.config import Config, SourceConfig
from streamseg.config.privacy import PrivacyConfig, SourcePrivacy
from streamseg.errors import ConfigError
from streamseg.export.jsonl import result_to_dict
from streamseg.privacy.step import PrivacyStep
from streamseg.types import Frame, InstanceMasks, SegResult

H, W = 96, 128
NAMES = ("person", "car")


def _textured() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _result(source: str, image: np.ndarray, inference: str = "inferred") -> SegResult:
    crop = np.ones((30, 20), dtype=bool)
    return SegResult(
        Frame(source, 0, 0.0, 0.0, image),
        np.array([[40, 20, 60, 50]], np.float32),
        np.array([0], np.int64),
        np.array([0.8], np.float32),
        InstanceMasks((crop,), np.array([[40, 20]], np.int32), (H, W)),
        NAMES,
        inference=inference,
    )


def _step(**sources: SourcePrivacy | None) -> PrivacyStep:
    cfg = Config(
        sources=tuple(SourceConfig(f"{n}.mp4", name=n, privacy=p) for n, p in sources.items()),
        privacy=PrivacyConfig(objects=("person",), style="fill", grow=0),
    )
    step = PrivacyStep(cfg)
    for sc in cfg.sources:
        step.add_source(sc.display_name(), sc)
    step.set_class_names(NAMES, [(sc.display_name(), sc) for sc in cfg.sources])
    return step


def test_the_frame_is_replaced_by_the_hidden_picture_and_the_mask_is_kept() -> None:
    image = _textured()
    original = image.copy()
    out = _step(door=None)(_result("door", image))
    assert np.array_equal(image, original)  # the decoded frame is never written to
    hidden = out.frame.image
    assert (hidden[20:50, 40:60] == 128).all()  # fill: mid grey inside the mask
    outside = np.ones((H, W), bool)
    outside[20:50, 40:60] = False
    assert np.array_equal(hidden[outside], original[outside])
    assert out.privacy is not None and out.privacy.hidden.tolist() == [True]
    line = result_to_dict(out)
    assert line["instances"][0]["hidden"] is True and line["instances"][0]["mask"]["counts"]
    assert line["privacy"] == {"ghosts": 0, "full_frame": False}


def test_a_source_turning_objects_off_passes_through_untouched() -> None:
    step = _step(door=None, yard=SourcePrivacy(objects=()))
    result = _result("yard", _textured())
    assert step(result) is result
    assert not step.hides("yard") and step.hides("door")


def test_a_frame_without_inference_before_any_is_hidden_whole_and_counted() -> None:
    step = _step(door=None)
    out = step(_result("door", _textured(), inference="carried"))
    assert out.privacy is not None and out.privacy.full_frame
    assert (out.frame.image == 128).all()
    assert step.status()["door"] == {
        "objects": ["person"],
        "areas": 0,
        "style": "fill",
        "hidden_objects": 0,
        "ghosts": 0,
        "carried_frames": 0,
        "full_frames": 1,
    }


def test_a_class_the_model_does_not_have_is_one_line() -> None:
    cfg = Config(privacy=PrivacyConfig(objects=("persn",)))
    with pytest.raises(ConfigError) as caught:
        PrivacyStep(cfg).set_class_names(NAMES, [])
    message = str(caught.value)
    assert "persn" in message and "person" in message and "\n" not in message


def test_a_source_added_later_with_an_unknown_class_is_refused() -> None:
    step = _step(door=None)
    late = SourceConfig("late.mp4", name="late", privacy=SourcePrivacy(objects=("bus",)))
    with pytest.raises(ConfigError, match="bus"):
        step.add_source("late", late)
    assert not step.hides("late")
