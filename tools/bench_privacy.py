"""Benchmark hiding people (``streamseg.privacy.Hider``) against drawing their masks (``MaskAnnotator``).

One 720p frame (a real one from the street clip when the shared assets are there, else random texture),
20 person-like ellipse masks, and per round, in alternating order: (a) ``MaskAnnotator(alpha=0.45)``
drawing the masks on a copy of the frame, (b) for each style, ``Hider.hide`` of the masks grown by 4 px
with ``mask_regions(masks, grow)`` (``grown`` for each mask, included in the time), (c) the same with the
growing done inside ``hide`` (``hide(image, mask_regions(masks), grow=4)``, identical pixels). Medians
over many rounds and the ratio to (a) (target: <= 1.0). Usage::

    python -m tools.bench_privacy [--video PATH] [--runs 300] [--people 20] [--grow 4] [--threads N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from streamseg.privacy import STYLES, Hider, mask_regions
from streamseg.render import MaskAnnotator
from streamseg.testing.assets import read_frames
from streamseg.types import Frame, InstanceMasks, SegResult, UInt8Array
from tools.common import STREET_CLIP, Arms, Column, fmt, load_average, print_table

COLUMNS = [Column("arm", 22, "<"), Column("median ms", 10), Column("min ms", 8), Column("vs draw", 8)]
DRAW = "draw masks"


def load_frame(video: Path, index: int, size_wh: tuple[int, int]) -> tuple[UInt8Array, str]:
    """A frame of ``video`` resized to ``size_wh``, or smoothed random texture when the clip is missing."""
    width, height = size_wh
    if video.exists():
        frame = read_frames(video, [index])[-1]
        if frame.shape[:2] != (height, width):
            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(frame), f"{video.name} frame {index}"
    noise = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 1.5), "random texture (clip not found)"


def people(n: int, frame_hw: tuple[int, int], seed: int) -> SegResult:
    """``n`` upright ellipses 60-160 px wide and 120-320 px tall, scattered over the frame, as crops."""
    height, width = frame_hw
    rng = np.random.default_rng(seed)
    crops, origins, xyxy = [], np.zeros((n, 2), np.int32), np.zeros((n, 4), np.float32)
    for i in range(n):
        w, h = int(rng.integers(60, 161)), int(rng.integers(120, 321))
        x0, y0 = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        mask = np.zeros((h, w), np.uint8)
        cv2.ellipse(mask, (w // 2, h // 2), (w // 2 - 1, h // 2 - 1), 0, 0, 360, 1, -1)
        crops.append(mask.astype(bool))
        origins[i] = (x0, y0)
        xyxy[i] = (x0, y0, x0 + w, y0 + h)
    blank = np.zeros((height, width, 3), np.uint8)
    masks = InstanceMasks(tuple(crops), origins, frame_hw)
    zeros = np.zeros(n, np.int64)
    return SegResult(
        Frame("bench", 0, 0.0, 0.0, blank), xyxy, zeros, np.ones(n, np.float32), masks, ["person"]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=STREET_CLIP)
    parser.add_argument("--frame-index", type=int, default=30)
    parser.add_argument("--size", type=int, nargs=2, default=[1280, 720], metavar=("W", "H"))
    parser.add_argument("--runs", type=int, default=300, help="rounds; every arm runs once per round")
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--grow", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="cv2.setNumThreads (default: OpenCV's)")
    args = parser.parse_args()
    if args.threads is not None:
        cv2.setNumThreads(args.threads)

    frame, what = load_frame(args.video, args.frame_index, (args.size[0], args.size[1]))
    frame.setflags(write=False)  # the hider must never need to write its input
    result = people(args.people, frame.shape[:2], args.seed)
    annotator = MaskAnnotator(alpha=0.45)
    hiders = {style: Hider(style) for style in STYLES}

    def draw() -> object:
        return annotator.annotate(frame.copy(), result)

    def hide(hider: Hider) -> Callable[[], object]:
        return lambda: hider.hide(frame, mask_regions(result.masks, grow=args.grow))

    def hide_grow(hider: Hider) -> Callable[[], object]:
        return lambda: hider.hide(frame, mask_regions(result.masks), grow=args.grow)

    arms: dict[str, Callable[[], object]] = {DRAW: draw}
    for style, hider in hiders.items():
        arms[f"{style}"] = hide(hider)
        arms[f"{style}, grow="] = hide_grow(hider)
    samples: Arms[str] = Arms(*arms)
    for fn in arms.values():  # warm up: first calls allocate and load code
        for _ in range(5):
            fn()
    for round_index in range(args.runs):
        for name in samples.order(round_index):
            start = time.perf_counter()
            arms[name]()
            samples.add(name, (time.perf_counter() - start) * 1000.0)

    height, width = frame.shape[:2]
    print(
        f"{width}x{height} {what}; {args.people} people, grown by {args.grow} px; {args.runs} rounds; "
        f"cv2 threads {cv2.getNumThreads()}; load {fmt(load_average())}"
    )
    print("draw = MaskAnnotator(alpha=0.45).annotate(frame.copy(), result)")
    print(f"hide S = hide(frame, mask_regions(masks, grow={args.grow})); ", end="")
    print(f"hide S, grow= = hide(frame, mask_regions(masks), grow={args.grow})")
    rows = []
    for name in arms:
        label = name if name == DRAW else f"hide {name}"
        vs = "-" if name == DRAW else fmt(samples.ratio(name, DRAW), ".2f", "x")
        rows.append([label, fmt(samples.median(name), ".3f"), fmt(min(samples[name]), ".3f"), vs])
    print_table(COLUMNS, rows, rule=True)
    over = [name for name in arms if name != DRAW and samples.ratio(name, DRAW) > 1.0]
    verdict = "met by every arm" if not over else f"missed by {'; '.join(over)}"
    print(f"target hide / draw <= 1.0: {verdict}")


if __name__ == "__main__":
    main()
