"""ResultsWriter: exact per-frame schema, decodable masks, flushing, and one-line errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from streamseg.errors import OutputError
from streamseg.export import ResultsWriter, result_to_dict
from streamseg.types import Frame, InstanceMasks, SegResult

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

NAMES = ("person", "bicycle", "car")


def make_result(source: str = "cam0", index: int = 7, n: int = 2) -> SegResult:
    h, w = 48, 64
    frame = Frame(source, index, index / 30.0, 100.0, np.zeros((h, w, 3), np.uint8))
    rng = np.random.default_rng(index)
    crops, origins, boxes = [], [], []
    for i in range(n):
        x0, y0 = 3 + 10 * i, 5 + 4 * i
        crop = rng.random((12 + i, 9 + 2 * i)) < 0.6
        crops.append(crop)
        origins.append((x0, y0))
        boxes.append((x0 + 0.123456, y0 + 0.5, x0 + crop.shape[1] - 0.004, y0 + crop.shape[0]))
    masks = InstanceMasks(tuple(crops), np.array(origins, np.int32).reshape(n, 2), (h, w))
    return SegResult(
        frame=frame,
        xyxy=np.array(boxes, np.float32).reshape(n, 4),
        class_id=np.array([0, 2, 1][:n], np.int64),
        score=np.array([0.912345678, 0.5, 0.25][:n], np.float32),
        masks=masks,
        class_names=NAMES,
    )


def read_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_schema_is_exact(tmp_path: Path) -> None:
    result = make_result()
    path = tmp_path / "results.jsonl"
    with ResultsWriter(path) as writer:
        writer.write(result)
    [line] = read_lines(path)
    assert list(line) == ["source", "frame", "pts", "instances", "inference"]
    assert line["inference"] == "inferred"
    assert line["source"] == "cam0"
    assert line["frame"] == 7
    assert line["pts"] == pytest.approx(7 / 30.0, abs=1e-6)
    instances = line["instances"]
    assert isinstance(instances, list) and len(instances) == 2
    for i, inst in enumerate(instances):
        assert list(inst) == ["class_id", "class_name", "score", "xyxy", "mask", "track_id"]
        assert inst["track_id"] is None  # no tracking
        assert isinstance(inst["class_id"], int)
        assert inst["class_name"] == NAMES[int(result.class_id[i])]
        assert inst["score"] == round(float(result.score[i]), 5)
        assert inst["xyxy"] == [round(float(v), 2) for v in result.xyxy[i]]
        assert set(inst["mask"]) == {"size", "counts"}
        assert inst["mask"]["size"] == [48, 64]
        assert isinstance(inst["mask"]["counts"], str)
    assert instances[0]["score"] == 0.91235
    tracked = result_to_dict(dataclasses.replace(result, track_id=np.array([4, -1])))
    assert [i["track_id"] for i in tracked["instances"]] == [4, None]
    assert instances[0]["xyxy"][0] == 3.12


def test_masks_decode_to_the_full_frame_masks(tmp_path: Path) -> None:
    result = make_result(n=3)
    path = tmp_path / "r.jsonl"
    with ResultsWriter(path) as writer:
        writer.write(result)
    [line] = read_lines(path)
    for i, inst in enumerate(line["instances"]):
        rle = {"size": inst["mask"]["size"], "counts": inst["mask"]["counts"].encode()}
        np.testing.assert_array_equal(coco_mask.decode(rle).astype(bool), result.masks.full(i))


def test_empty_result_and_one_line_per_frame(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with ResultsWriter(path) as writer:
        for i in range(5):
            writer.write(make_result(source=f"s{i % 2}", index=i, n=i % 3))
        assert writer.lines_written == 5
    lines = read_lines(path)
    assert [line["frame"] for line in lines] == [0, 1, 2, 3, 4]
    assert [line["source"] for line in lines] == ["s0", "s1", "s0", "s1", "s0"]
    assert lines[0]["instances"] == []


def test_lines_are_flushed_before_close(tmp_path: Path) -> None:
    """A killed process keeps what was written: the file is readable while the writer is open."""
    path = tmp_path / "r.jsonl"
    writer = ResultsWriter(path)
    try:
        writer.write(make_result(index=1))
        writer.write(make_result(index=2))
        assert [line["frame"] for line in read_lines(path)] == [1, 2]
    finally:
        writer.close()
    writer.close()  # twice is fine


def test_flush_every_n(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with ResultsWriter(path, flush_every=3) as writer:
        writer.write(make_result(index=1))
        assert path.read_text() == ""
        writer.write(make_result(index=2))
        writer.write(make_result(index=3))
        assert len(read_lines(path)) == 3
        writer.write(make_result(index=4))
    assert len(read_lines(path)) == 4


def test_unwritable_path_is_one_line_output_error(tmp_path: Path) -> None:
    for bad in (tmp_path / "missing-dir" / "r.jsonl", tmp_path):
        with pytest.raises(OutputError) as info:
            ResultsWriter(bad)
        message = str(info.value)
        assert str(bad) in message
        assert "\n" not in message
        assert isinstance(info.value, OSError)


def test_write_after_close_is_output_error(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path / "r.jsonl")
    writer.close()
    with pytest.raises(OutputError, match="closed"):
        writer.write(make_result())


def test_non_finite_numbers_become_null() -> None:
    result = make_result(n=1)
    result.score[0] = np.nan
    result.xyxy[0, 2] = np.inf
    out = result_to_dict(result)
    inst = out["instances"][0]
    assert inst["score"] is None
    assert inst["xyxy"][2] is None
    json.dumps(out, allow_nan=False)


def test_unknown_class_id_uses_the_number() -> None:
    result = make_result(n=1)
    result.class_id[0] = 17
    assert result_to_dict(result)["instances"][0]["class_name"] == "17"
