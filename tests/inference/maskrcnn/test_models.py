"""Which ONNX files are Mask R-CNN, what is refused, and ``torchvision:NAME`` offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamseg.config import ModelConfig
from streamseg.errors import ModelError, ModelNotFoundError
from streamseg.inference.factory import open_detector
from streamseg.inference.maskrcnn.coco import COCO_CATEGORIES
from streamseg.inference.maskrcnn.export import resolve_torchvision_model
from tests.cli.test_main import OFFLINE_ENV


def four_output_onnx(path: Path, ranks: tuple[int, ...]) -> Path:
    """A tiny graph with one (3, H, W) input and four outputs of the given ranks."""
    import onnx
    from onnx import TensorProto, helper

    inp = helper.make_tensor_value_info("image", TensorProto.FLOAT, [3, "h", "w"])
    outs, nodes = [], []
    for k, rank in enumerate(ranks):
        name = f"out{k}"
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n"] * rank))
        nodes.append(helper.make_node("Identity", ["image"], [name]))
    graph = helper.make_graph(nodes, "g", [inp], outs)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_an_onnx_with_four_unexpected_outputs_is_one_line(tmp_path: Path) -> None:
    path = four_output_onnx(tmp_path / "odd.onnx", (3, 3, 3, 3))
    with pytest.raises(ModelError, match="unexpected outputs for a Mask R-CNN") as info:
        open_detector(ModelConfig(path=str(path)), lambda *a: None)
    assert "\n" not in str(info.value) and "boxes (N,4), labels (N,), scores (N,), masks (N,1,h,w)" in str(
        info.value
    )


def test_torchvision_names_and_offline_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelError, match="unknown torchvision model 'resnet50'"):
        resolve_torchvision_model("torchvision:resnet50", tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for key in ("HTTPS_PROXY", "HTTP_PROXY"):
        monkeypatch.setenv(key, OFFLINE_ENV[key])
    with pytest.raises(
        ModelNotFoundError, match="offline\\? pass a Mask R-CNN exported to ONNX with --model PATH"
    ):
        resolve_torchvision_model("torchvision:maskrcnn_resnet50_fpn", tmp_path / "engines")


def test_coco_names_are_torchvisions() -> None:
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_V2_Weights

    assert list(COCO_CATEGORIES) == MaskRCNN_ResNet50_FPN_V2_Weights.DEFAULT.meta["categories"]
