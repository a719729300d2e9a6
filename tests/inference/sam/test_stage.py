"""SAM in a run: ``--refine`` replaces each detection's mask with SAM's for its box (telemetry stage
``refine``), and dashboard clicks add ``prompt`` objects until cleared."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from streamseg import Pipeline
from streamseg.config import Config, ModelConfig, OutputConfig, SamConfig, SourceConfig
from streamseg.errors import ConfigError, ModelError
from streamseg.inference.sam import Prompt, SamPredictor
from streamseg.inference.sam.checkpoints import load_sam_network
from streamseg.testing.media import write_video
from tests.conftest import FIXTURE_PT
from tests.inference.yolo.test_parity import mask_iou

pytestmark = pytest.mark.usefixtures("no_stray_threads")


def run_config(detector: Path, engines: Path, clip: Path, **sam: object) -> Config:
    return Config(
        sources=(SourceConfig(str(clip)),),
        model=ModelConfig(
            path=str(detector), imgsz=320, conf=0.6, max_det=6, batch=2, engines_dir=str(engines)
        ),
        sam=SamConfig(**sam),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("refine") / "clip.mp4"
    write_video(path, n_frames=3)
    return path


def test_refined_masks_are_sams_for_the_detectors_boxes(
    clip: Path,
    random_seg_onnx: Path,
    engines_dir: Path,
    sam_checkpoint: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    sam = sam_checkpoint("mobile_sam.pt")
    plain = list(Pipeline(config=run_config(random_seg_onnx, engines_dir, clip)).results())
    results_file = tmp_path / "r.jsonl"
    cfg = run_config(random_seg_onnx, engines_dir, clip, model=str(sam), refine=True)
    cfg = Config(**{**cfg.__dict__, "output": OutputConfig(save_results=str(results_file))})
    pipeline = Pipeline(config=cfg)
    refined = list(pipeline.results())
    reference = SamPredictor(*load_sam_network(sam))
    assert sum(len(r) for r in refined) > 0
    for before, after in zip(plain, refined, strict=True):
        np.testing.assert_array_equal(before.xyxy, after.xyxy)  # the detector's boxes, classes, scores
        np.testing.assert_array_equal(before.class_id, after.class_id)
        assert "refine" in after.stage_seconds
        expected = reference.segment(after.frame.image, [Prompt.from_box(*b) for b in after.xyxy])
        for i in range(len(after)):
            assert mask_iou(after.masks.full(i), expected.masks.full(i)) >= 0.98
    assert pipeline.telemetry.snapshot()["stages"]["refine"]["count"] == len(refined)
    lines = [json.loads(line) for line in results_file.read_text().splitlines()]
    assert [len(line["instances"]) for line in lines] == [len(r) for r in refined]


def test_clicks_add_prompt_objects_until_cleared(
    clip: Path, random_seg_onnx: Path, engines_dir: Path, sam_checkpoint: Callable[[str], Path]
) -> None:
    cfg = run_config(random_seg_onnx, engines_dir, clip, model=str(sam_checkpoint("mobile_sam.pt")))
    pipeline = Pipeline(config=cfg).open()
    board = pipeline.prompts
    assert board is not None and board.sources == ["clip"]
    board.add("clip", Prompt.from_point(100, 80))
    seen = []
    for result in pipeline.results():
        names = [result.class_name(i) for i in range(len(result))]
        seen.append(names.count("prompt"))
        if result.frame_index == 0:
            assert result.class_names[-1] == "prompt" and result.masks.crops[-1].any()
            board.clear("clip")
    assert seen[0] == 1 and seen[-1] == 0  # frames after the clear have none


def test_bad_sam_setups_are_one_line(clip: Path, random_seg_onnx: Path, engines_dir: Path) -> None:
    with pytest.raises(ModelError, match="not a SAM checkpoint: it holds an Ultralytics YOLO"):
        Pipeline(
            config=run_config(random_seg_onnx, engines_dir, clip, model=str(FIXTURE_PT), refine=True)
        ).open()
    with pytest.raises(ConfigError, match=r"sam\.refine needs sam\.model"):
        run_config(random_seg_onnx, engines_dir, clip, refine=True).validated()
