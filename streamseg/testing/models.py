"""Networks with random weights, from the libraries' own builders (no download): a YOLOv8n-seg saved as
an Ultralytics ``.pt``, and SAM checkpoints under the names Ultralytics recognises."""

from __future__ import annotations

from pathlib import Path

# A random SAM rates its masks at or below 0, so Ultralytics' predictor (conf 0.25) keeps none: the
# bias of the IoU head's last layer is raised by 5, as a trained network would score a good mask.
SAM_BUILDERS = {
    "mobile_sam.pt": "build_mobile_sam",
    "sam2_t.pt": "build_sam2_t",
    "sam_b.pt": "build_sam_vit_b",
    "sam_vit_b_01ec64.pth": "build_sam_vit_b",  # Meta's file: the same keys as Ultralytics' sam_b.pt
}


def save_random_seg_pt(path: Path) -> Path:
    """A real YOLOv8n-seg architecture with random weights, saved as Ultralytics .pt at ``path``.

    PyTorch's default init makes this network's outputs nearly constant (2 distinct scores over 1,200
    anchors), so NMS order would be decided by ties. A seeded Kaiming-normal re-init gives varied
    scores, boxes and masks: a random network that still exercises everything.
    """
    import torch  # noqa: PLC0415
    from ultralytics.models.yolo import YOLO  # noqa: PLC0415

    torch.manual_seed(0)
    model = YOLO("yolov8n-seg.yaml")
    network: torch.nn.Module = model.model  # type: ignore[assignment]
    for module in network.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                torch.nn.init.normal_(module.bias, 0.0, 0.5)
        elif isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.normal_(module.weight, 1.0, 0.2)
            torch.nn.init.normal_(module.bias, 0.0, 0.2)
    model.save(str(path))
    return path


def build_random_sam(name: str) -> object:
    """The SAM network ``name`` stands for (a key of ``SAM_BUILDERS``), seeded random weights."""
    import torch  # noqa: PLC0415
    from ultralytics.models.sam import build  # noqa: PLC0415

    torch.manual_seed(0)
    net = getattr(build, SAM_BUILDERS[name])()
    decoder = getattr(net, "mask_decoder", None) or net.sam_mask_decoder
    with torch.no_grad():
        decoder.iou_prediction_head.layers[-1].bias += 5.0
    return net
