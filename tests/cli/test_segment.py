"""``streamseg segment``: SAM on one picture from the command line; bad input is one line and exit 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamseg.cli import main
from streamseg.testing.media import write_video
from tests.cli.test_main import assert_one_line_error, run_cli
from tests.conftest import FIXTURE_PT, IMAGES

BUS = str(IMAGES / "bus.jpg")


def test_segment_an_image_writes_overlay_and_results(
    sam_checkpoint: Callable[[str], Path], tmp_path: Path
) -> None:
    overlay, results = tmp_path / "overlay.png", tmp_path / "r.jsonl"
    proc = run_cli(
        "segment", BUS, "--model", str(sam_checkpoint("mobile_sam.pt")), "--points", "300,500;420,700:0",
        "--boxes", "40,230,250,900", "--out", str(overlay), "--save-results", str(results),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["object 0", "object 1"]
    record = json.loads(results.read_text())
    assert record["source"] == "bus.jpg" and len(record["instances"]) == 2
    assert {i["class_name"] for i in record["instances"]} == {"prompt"}
    drawn = cv2.imread(str(overlay))
    assert drawn.shape == (1080, 810, 3)
    assert np.abs(drawn.astype(int) - cv2.imread(BUS).astype(int)).max() > 20


def test_segment_a_video_frame(
    sam_checkpoint: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = tmp_path / "clip.mp4"
    write_video(clip, n_frames=5)
    results = tmp_path / "r.jsonl"
    args = ["segment", str(clip), "--frame", "3", "--model", str(sam_checkpoint("mobile_sam.pt"))]
    assert main([*args, "--points", "100,100", "--save-results", str(results)]) == 0
    record = json.loads(results.read_text())
    assert (record["source"], record["frame"], len(record["instances"])) == ("clip", 3, 1)
    assert main([*args[:3], "9", *args[4:], "--points", "100,100"]) == 2
    assert "--frame 9: " in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (["--points", "5000,10"], ["point 5000,10 is outside the 810x1080 picture"]),
        (["--boxes", "1,2,3"], ["--boxes: expected X1,Y1,X2,Y2"]),
        ([], ["segment needs prompts"]),
    ],
)
def test_bad_prompts(
    extra: list[str],
    needles: list[str],
    sam_checkpoint: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["segment", BUS, "--model", str(sam_checkpoint("mobile_sam.pt")), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("streamseg: error: ")
    assert all(n in err for n in needles), err


def test_a_checkpoint_that_is_not_sam(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["segment", BUS, "--model", str(FIXTURE_PT), "--points", "10,10"]) == 2
    assert (
        "is not a SAM checkpoint: it holds an Ultralytics YOLO segmentation model" in capsys.readouterr().err
    )


def test_offline_download_names_the_model_flag(tmp_path: Path) -> None:
    proc = run_cli("segment", BUS, "--model", "sam_b.pt", "--points", "10,10", "--engines-dir", str(tmp_path))
    assert proc.returncode == 2
    assert_one_line_error(proc, "could not download sam_b.pt", "--model PATH")


def test_help_teaches_with_examples() -> None:
    proc = run_cli("segment", "--help")
    assert proc.returncode == 0
    for needle in ("--points", "--boxes", "examples:", "sam_vit_b_01ec64.pth", "offline"):
        assert needle in proc.stdout
