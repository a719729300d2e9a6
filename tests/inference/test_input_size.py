"""With no ``imgsz`` given, a model runs at the size Ultralytics would run it at: a ``.pt`` at the size
it was trained at (its ``train_args``), a fixed input at that input, else 640; a size given wins."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from streamseg.config import ModelConfig
from streamseg.inference.factory import open_detector
from streamseg.inference.input_size import (
    InputSize,
    checkpoint_side,
    fixed_input_size,
    input_size,
    known_input_size,
    read_train_imgsz,
)
from tests.conftest import FIXTURE_PT, require_asset


def _ultralytics_default(path: Path) -> object:
    from ultralytics import YOLO

    return YOLO(str(path)).overrides.get("imgsz", 640)


def test_a_checkpoint_runs_at_the_size_ultralytics_predicts_it_at(random_seg_pt: Path) -> None:
    fixture = require_asset(FIXTURE_PT)
    assert input_size(ModelConfig(path=str(fixture))) == InputSize(320, "the checkpoint's")
    assert _ultralytics_default(fixture) == 320
    # saved from a model built from its YAML: no train args, so Ultralytics' own default
    assert (
        input_size(ModelConfig(path=str(random_seg_pt))).value == _ultralytics_default(random_seg_pt) == 640
    )


def test_what_was_given_wins_and_other_files_are_640(tmp_path: Path) -> None:
    assert input_size(ModelConfig(path=str(FIXTURE_PT), imgsz=640)) == InputSize(640, "given")
    assert input_size(ModelConfig(path="m.onnx")).value == 640
    # the default weights not downloaded yet: the plan says so rather than downloading them
    assert known_input_size(ModelConfig(path="yolov8n-seg.pt", engines_dir=str(tmp_path))) is None


def test_train_args_sizes_as_check_imgsz_rounds_them() -> None:
    assert [checkpoint_side(v) for v in (320, 1024, [480, 640], (640, 480), 1000, 8192)] == [
        320,
        1024,
        640,
        640,
        1024,
        4096,
    ]
    assert checkpoint_side("640") is None and checkpoint_side([]) is None and checkpoint_side(True) is None


def test_train_args_are_read_without_running_the_pickle(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "small-objects.pt"
    torch.save({"model": torch.nn.Linear(2, 2), "train_args": {"imgsz": [768, 1024], "epochs": 3}}, path)
    assert read_train_imgsz(path) == [768, 1024]
    assert input_size(ModelConfig(path=str(path))) == InputSize(1024, "the checkpoint's")


def test_an_unreadable_checkpoint_falls_back_to_640_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "broken.pt"
    path.write_bytes(b"not a zip")
    with caplog.at_level(logging.WARNING):
        assert input_size(ModelConfig(path=str(path))).value == 640
    assert "could not read the training size" in caplog.text


def test_a_fixed_input_is_the_size_unless_one_was_given() -> None:
    default = InputSize(640, "the default")
    assert fixed_input_size(default, (384, 512), explicit=False) == InputSize(512, "the model's fixed input")
    assert fixed_input_size(InputSize(320, "given"), (384, 512), explicit=True).value == 320
    assert fixed_input_size(default, None, explicit=False) is default


def test_the_engine_opens_at_the_checkpoint_size_and_conf_025(
    trained_seg_onnx: Path, engines_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        engine = open_detector(
            ModelConfig(path=str(FIXTURE_PT), engines_dir=str(engines_dir)), lambda *a: None
        )
    try:
        assert engine.imgsz == 320 and engine.thresholds.conf == 0.25  # type: ignore[attr-defined]
    finally:
        engine.close()
    assert "model input: imgsz 320 (the checkpoint's), conf 0.25" in caplog.text
    given = open_detector(
        ModelConfig(path=str(FIXTURE_PT), engines_dir=str(engines_dir), imgsz=256), lambda *a: None
    )
    try:
        assert given.imgsz == 256  # type: ignore[attr-defined]
    finally:
        given.close()
