"""``--model torchvision:maskrcnn_resnet50_fpn_v2``: torchvision's weights, exported to ONNX once, cached.

The export stops where torchvision pastes masks into the full picture: the graph returns each box's
28x28 mask grid and streamseg pastes it at box resolution (``paste``), so no full-frame bitmap per
instance is made, in the graph or after it. Cached in ``engines/`` under the weights' file name (which
carries their hash), torch/torchvision versions and the export settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from streamseg.errors import BackendUnavailableError, ModelError, ModelNotFoundError
from streamseg.inference.maskrcnn.onnx_backend import BOXED_MASKS_KEY
from streamseg.inference.model_files import _check_writable, _one_line

logger = logging.getLogger(__name__)

PREFIX = "torchvision:"
MODELS = {
    "maskrcnn_resnet50_fpn": "MaskRCNN_ResNet50_FPN_Weights",
    "maskrcnn_resnet50_fpn_v2": "MaskRCNN_ResNet50_FPN_V2_Weights",
}
OPSET = 17


def is_torchvision_model(model: str) -> bool:
    return model.startswith(PREFIX)


def resolve_torchvision_model(model: str, engines_dir: Path) -> Path:
    """The cached ONNX export of ``torchvision:NAME`` (downloading the weights and exporting once)."""
    name = model[len(PREFIX) :]
    if name not in MODELS:
        raise ModelError(
            f"unknown torchvision model '{name}': use one of {', '.join(PREFIX + m for m in MODELS)}"
        )
    detection = _torchvision_detection()
    weights = getattr(detection, MODELS[name]).DEFAULT
    target = engines_dir / f"{name}-{_export_key(Path(weights.url).stem)}.onnx"
    if target.is_file():
        logger.info("using cached export %s", target)
        return target
    _check_writable(engines_dir)
    logger.info("downloading %s's weights and exporting to ONNX (once; cached as %s)", name, target)
    try:
        net = getattr(detection, name)(weights=weights)
    except Exception as exc:
        raise ModelNotFoundError(
            f"could not download {name}'s weights ({_one_line(exc)}); offline? pass a Mask R-CNN exported "
            "to ONNX with --model PATH"
        ) from None
    export_maskrcnn(net, target, list(weights.meta["categories"]))
    return target


def export_maskrcnn(net: Any, target: Path, names: list[str]) -> Path:
    """Export a torchvision Mask R-CNN (any weights) to ``target``, masks left per box."""
    import onnx  # noqa: PLC0415
    import torch  # noqa: PLC0415

    wrapper = _unpasted_class()(net.eval()).eval()  # export restores the mode it found: eval
    example = torch.rand(3, 480, 640)
    partial = target.with_name(target.name + ".partial")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python-side shape arithmetic
        try:
            torch.onnx.export(
                wrapper,
                (example,),
                str(partial),
                opset_version=OPSET,
                input_names=["image"],
                output_names=["boxes", "labels", "scores", "masks"],
                dynamic_axes={
                    "image": {1: "height", 2: "width"},
                    **{k: {0: "n"} for k in ("boxes", "labels", "scores", "masks")},
                },
                dynamo=False,
            )
        except Exception as exc:
            raise ModelError(f"exporting Mask R-CNN to ONNX failed: {_one_line(exc)}") from exc
    proto = onnx.load(str(partial))
    for key, value in ((BOXED_MASKS_KEY, "box"), ("names", json.dumps(names))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(partial))
    os.replace(partial, target)
    return target


def _torchvision_detection() -> Any:
    try:
        from torchvision.models import detection  # noqa: PLC0415
    except Exception as exc:  # ImportError, or the RuntimeError of a torchvision built for another torch
        raise BackendUnavailableError(
            f"torchvision models need a working torchvision ({_one_line(exc)}): "
            "pip install torch==2.14.1 torchvision==0.29.1"
        ) from None
    return detection


def _export_key(weights_stem: str) -> str:
    settings = {
        "opset": OPSET,
        "masks": "box",
        "torch": _version("torch"),
        "torchvision": _version("torchvision"),
    }
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]
    return f"{weights_stem.rsplit('-', 1)[-1]}-{digest}"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "none"


def _unpasted_class() -> type:
    """Built on first use: defining a ``torch.nn.Module`` needs torch, which a YOLO run never imports."""
    import torch  # noqa: PLC0415

    class Unpasted(torch.nn.Module):
        """torchvision's forward for one image, up to (not including) pasting masks into the picture."""

        def __init__(self, net: Any) -> None:
            super().__init__()
            self.net = net

        def forward(self, image: Any) -> tuple[Any, Any, Any, Any]:
            from torchvision.models.detection.transform import resize_boxes  # noqa: PLC0415

            original = image.shape[-2:]  # traced, not frozen to the example's size
            images, _ = self.net.transform([image])
            features = self.net.backbone(images.tensors)
            proposals, _ = self.net.rpn(images, features)
            detections, _ = self.net.roi_heads(features, proposals, images.image_sizes)
            found = detections[0]
            boxes = resize_boxes(found["boxes"], images.image_sizes[0], original)
            return boxes, found["labels"], found["scores"], found["masks"]

    return Unpasted
