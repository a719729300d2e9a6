"""Which SAM a checkpoint holds, read from its weights; anything else refused with one line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from streamseg.errors import ModelError, ModelNotFoundError
from streamseg.inference.sam.checkpoints import load_sam_network, resolve_sam_checkpoint
from tests.cli.test_main import OFFLINE_ENV
from tests.conftest import FIXTURE_PT


@pytest.mark.parametrize(("name", "label"), [("mobile_sam.pt", "MobileSAM"), ("sam2_t.pt", "SAM 2 (t)")])
def test_family_and_size_come_from_the_weights_not_the_name(
    name: str, label: str, sam_checkpoint: Callable[[str], Path], tmp_path: Path
) -> None:
    renamed = tmp_path / "my-model.pth"
    renamed.write_bytes(sam_checkpoint(name).read_bytes())
    _, spec = load_sam_network(renamed)
    assert spec.label == label


def test_a_yolo_model_is_named_for_what_it_is(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a SAM checkpoint: it holds an Ultralytics YOLO segmentation"):
        load_sam_network(FIXTURE_PT)


def test_other_weights_and_garbage_are_refused(tmp_path: Path) -> None:
    import torch

    other = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(2, 3, 3, 3), "fc.bias": torch.zeros(2)}, other)
    with pytest.raises(ModelError, match="no image encoder among its weights"):
        load_sam_network(other)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelError, match="is not a SAM checkpoint") as info:
        load_sam_network(junk)
    assert "\n" not in str(info.value)


def test_a_damaged_checkpoint_says_what_does_not_fit(
    sam_checkpoint: Callable[[str], Path], tmp_path: Path
) -> None:
    import torch

    state = torch.load(sam_checkpoint("mobile_sam.pt"), weights_only=True)
    del state["mask_decoder.iou_token.weight"]
    cut = tmp_path / "cut.pt"
    torch.save(state, cut)
    with pytest.raises(ModelError, match=r"does not fit MobileSAM: mask_decoder\.iou_token\.weight"):
        load_sam_network(cut)


def test_unknown_names_and_offline_downloads_name_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ModelNotFoundError, match="pass a local file with --refine PATH"):
        resolve_sam_checkpoint("no_such_sam.pt", tmp_path, flag="--refine")
    for key in ("HTTPS_PROXY", "HTTP_PROXY"):
        monkeypatch.setenv(key, OFFLINE_ENV[key])
    for name in ("mobile_sam.pt", "sam_vit_b_01ec64.pth"):
        with pytest.raises(ModelNotFoundError, match="offline\\? pass a local checkpoint with --model PATH"):
            resolve_sam_checkpoint(name, tmp_path / "cache")
