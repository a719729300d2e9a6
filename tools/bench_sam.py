"""SAM refinement per frame (embedding + N boxes decoded, box-sized masks) vs Ultralytics' SAM predictor
(``SAM(ckpt).predict(frame, bboxes=...)``) on the same frames, prompts and weights, in the same run.

No checkpoint can be downloaded on the development machines, so by default the network is built by
Ultralytics' own builder with random weights (speed does not depend on the weights); pass --checkpoint
for a real one. Prints per-frame medians and the ratio (reference time / ours).

    python -m tools.bench_sam --model mobile_sam.pt --frames 6 --boxes 8
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from tools.common import STREET_CLIP, Arms

os.environ.setdefault("YOLO_OFFLINE", "true")
os.environ.setdefault("YOLO_VERBOSE", "false")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default="mobile_sam.pt", help="builder name (random weights) if no --checkpoint"
    )
    parser.add_argument("--checkpoint", help="a real SAM checkpoint file")
    parser.add_argument("--clip", default=str(STREET_CLIP))
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--boxes", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import torch
    from ultralytics import SAM

    from streamseg.inference.sam import Prompt, SamPredictor
    from streamseg.inference.sam.checkpoints import load_sam_network
    from streamseg.testing.assets import read_frames
    from streamseg.testing.models import build_random_sam

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.checkpoint) if args.checkpoint else Path(tmp) / args.model
        if not args.checkpoint:
            torch.save(build_random_sam(args.model).state_dict(), path)  # type: ignore[attr-defined]
        frames = read_frames(Path(args.clip), list(range(0, 10 * args.frames, 10)))
        h, w = frames[0].shape[:2]
        cw, ch = w / 4, h / 2  # boxes on a 4 x 2 grid of cells
        cells = [(i % 4, i // 4 % 2) for i in range(args.boxes)]
        boxes = [[cx * cw + 10, cy * ch + 10, (cx + 1) * cw - 10, (cy + 1) * ch - 10] for cx, cy in cells]
        ours = SamPredictor(*load_sam_network(path), device=args.device)
        theirs = SAM(str(path))
        prompts = [Prompt.from_box(*b) for b in boxes]
        ours.segment(frames[0], prompts)  # warm-up, both
        theirs.predict(frames[0], bboxes=boxes, verbose=False, device=args.device)
        seconds = Arms("streamseg", "ultralytics")
        for frame in frames:
            t0 = time.perf_counter()
            ours.segment(frame, prompts)
            t1 = time.perf_counter()
            theirs.predict(frame, bboxes=boxes, verbose=False, device=args.device)
            t2 = time.perf_counter()
            seconds.add("streamseg", t1 - t0)
            seconds.add("ultralytics", t2 - t1)
    mo, mt = seconds.median("streamseg"), seconds.median("ultralytics")
    print(f"SAM {args.model} on {args.device}, {w}x{h}, {args.boxes} boxes per frame, {len(frames)} frames")
    print(f"  streamseg (embed + one decoder call + box-sized masks): median {mo * 1000:.0f} ms/frame")
    print(f"  Ultralytics SAM.predict(frame, bboxes=...):            median {mt * 1000:.0f} ms/frame")
    print(f"  ratio (Ultralytics / streamseg): {seconds.ratio('ultralytics', 'streamseg'):.2f}x")


if __name__ == "__main__":
    main()
