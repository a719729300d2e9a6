"""Mask R-CNN frames/s: streamseg (the ONNX export on ONNX Runtime, masks pasted at box resolution) vs
torchvision's eager model (which pastes every mask into a full frame) on the same clip, same weights,
in the same run. Random weights by default (torchvision's builder; one class logit raised by 8 so it
detects about 100 objects per frame, its maximum); speed does not depend on the weights.

    python -m tools.bench_maskrcnn --frames 4
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from tools.common import STREET_CLIP, Arms


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clip", default=str(STREET_CLIP))
    parser.add_argument("--frames", type=int, default=4)
    args = parser.parse_args()

    import numpy as np
    import torch
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    from streamseg.inference.maskrcnn.coco import COCO_CATEGORIES
    from streamseg.inference.maskrcnn.engine import MaskRCNNEngine
    from streamseg.inference.maskrcnn.export import export_maskrcnn
    from streamseg.inference.maskrcnn.onnx_backend import MaskRCNNOnnxBackend
    from streamseg.inference.yolo.postprocess import Thresholds
    from streamseg.testing.assets import read_frames
    from streamseg.types import Frame

    torch.manual_seed(0)
    net = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None).eval()
    with torch.no_grad():
        net.roi_heads.box_predictor.cls_score.bias[1] += 8.0
    frames = read_frames(Path(args.clip), list(range(0, 10 * (args.frames + 1), 10)))
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = export_maskrcnn(net, Path(tmp) / "maskrcnn.onnx", list(COCO_CATEGORIES))
        engine = MaskRCNNEngine(MaskRCNNOnnxBackend(onnx_path), Thresholds(0.05, 0.5, 100))
        seconds, counts = Arms("streamseg", "torchvision"), []
        for k, image in enumerate(frames):
            t0 = time.perf_counter()
            result = engine.run([Frame("clip", k, 0.0, 0.0, image)])[0]
            t1 = time.perf_counter()
            with torch.no_grad():
                x = torch.from_numpy(np.ascontiguousarray(image[..., ::-1].transpose(2, 0, 1))).float() / 255
                out = net([x])[0]
                _ = out["masks"] > 0.5  # the user's threshold, as our crops are
            t2 = time.perf_counter()
            if k:  # the first frame of each is warm-up
                seconds.add("streamseg", t1 - t0)
                seconds.add("torchvision", t2 - t1)
                counts.append(len(result))
    mo, mt = seconds.median("streamseg"), seconds.median("torchvision")
    h, w = frames[0].shape[:2]
    n, timed = statistics.median(counts), len(seconds["streamseg"])
    print(f"Mask R-CNN R50-FPN on the CPU, {w}x{h}, {n:.0f} instances/frame, {timed} frames")
    print(f"  streamseg (ONNX Runtime, box-sized masks): {1 / mo:.2f} frames/s (median {mo * 1000:.0f} ms)")
    print(f"  torchvision eager (full-frame masks):      {1 / mt:.2f} frames/s (median {mt * 1000:.0f} ms)")
    print(f"  ratio (streamseg fps / torchvision fps): {seconds.ratio('torchvision', 'streamseg'):.2f}x")


if __name__ == "__main__":
    main()
