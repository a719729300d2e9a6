"""Benchmark streamseg's FrameAnnotator against Ultralytics ``Results.plot()`` and time the H.264 writer.

Both draw the same instances (person-sized boxes, ellipse-blob masks) on the same real 720p frame; we report
the median over many runs. Usage::

    python -m tools.bench_render [--video PATH] [--runs 200] [--counts 4 16 32] [--no-peer]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np

from streamseg.config import RenderConfig
from streamseg.record.writer import VideoWriter
from streamseg.render import BoxAnnotator, FrameAnnotator, HudAnnotator, LabelAnnotator, MaskAnnotator
from streamseg.testing.assets import read_frames
from streamseg.types import Frame, InstanceMasks, SegResult
from tools.common import STREET_CLIP, Column, fmt, print_table

COCO_NAMES = ["person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat"]
COLUMNS = [
    Column(title, width)
    for title, width in (
        ("N", 3), ("ours med", 9), ("min", 6), ("masks", 6), ("boxes", 6), ("labels", 6), ("hud", 5),
        ("plot() med", 11), ("min", 7), ("ratio", 7),
    )
]  # fmt: skip


Instances = tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]


def make_instances(n: int, height: int, width: int, seed: int = 0) -> Instances:
    """Person-sized boxes (90-200 x 220-460 px at 720p) with a body ellipse + head ellipse as the mask."""
    rng = np.random.default_rng(seed)
    xyxy = np.zeros((n, 4), np.float32)
    crops = []
    origins = np.zeros((n, 2), np.int32)
    for i in range(n):
        w = int(rng.integers(90, 200))
        h = int(rng.integers(220, 460))
        x0 = int(rng.integers(0, width - w))
        y0 = int(rng.integers(0, height - h))
        mask = np.zeros((h, w), np.uint8)
        cv2.ellipse(mask, (w // 2, int(h * 0.58)), (w // 2 - 2, int(h * 0.42) - 2), 0, 0, 360, 1, -1)
        cv2.ellipse(mask, (w // 2, int(h * 0.12)), (w // 6, int(h * 0.1)), 0, 0, 360, 1, -1)
        crops.append(mask.astype(bool))
        origins[i] = (x0, y0)
        xyxy[i] = (x0, y0, x0 + w, y0 + h)
    class_id = np.where(rng.random(n) < 0.75, 0, rng.integers(1, len(COCO_NAMES), n)).astype(np.int64)
    score = rng.uniform(0.3, 0.99, n).astype(np.float32)
    return xyxy, class_id, score, crops, origins


def median_ms(
    fn: Callable[[], object],
    runs: int,
    setup: Callable[[], object] | None = None,
    fastest: list[float] | None = None,
) -> float:
    """Median wall time in ms; ``fastest`` (if given) receives the minimum, the least disturbed run."""
    for _ in range(min(5, runs)):
        if setup is not None:
            setup()
        fn()
    times = []
    for _ in range(runs):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    if fastest is not None:
        fastest.append(min(times) * 1000.0)
    return statistics.median(times) * 1000.0


Timing = tuple[float, float]  # (median ms, fastest ms)


def bench_ours(clean: np.ndarray, n: int, runs: int) -> tuple[Timing, dict[str, float]]:
    h, w = clean.shape[:2]
    xyxy, class_id, score, crops, origins = make_instances(n, h, w)
    canvas = clean.copy()
    masks = InstanceMasks(tuple(crops), origins, (h, w))
    result = SegResult(Frame("street", 0, 0.0, 0.0, canvas), xyxy, class_id, score, masks, COCO_NAMES)
    annotator = FrameAnnotator(RenderConfig())  # draws in place on ``canvas``, reset before every run

    def reset() -> None:
        np.copyto(canvas, clean)

    fastest: list[float] = []
    total = median_ms(lambda: annotator.annotate(result, 29.97, 41.0), runs, reset, fastest)
    parts = {
        "masks": median_ms(lambda: MaskAnnotator().annotate(canvas, result), runs, reset),
        "boxes": median_ms(lambda: BoxAnnotator().annotate(canvas, result), runs, reset),
        "labels": median_ms(lambda: LabelAnnotator().annotate(canvas, result), runs, reset),
        "hud": median_ms(lambda: HudAnnotator().annotate(canvas, "street", 29.97, 41.0, n), runs, reset),
    }
    return (total, fastest[0]), parts


def bench_peer(clean: np.ndarray, n: int, runs: int) -> Timing | None:
    """Ultralytics draws the same instances: boxes (N, 6) and full-frame masks (N, H, W), as plot() wants."""
    try:
        import torch
        from ultralytics.engine.results import Results
    except ImportError as exc:
        print(f"  peer unavailable: {exc}")
        return None
    h, w = clean.shape[:2]
    xyxy, class_id, score, crops, origins = make_instances(n, h, w)
    full = np.zeros((n, h, w), np.float32)
    for i, crop in enumerate(crops):
        x0, y0 = origins[i]
        full[i, y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    boxes = torch.from_numpy(np.concatenate([xyxy, score[:, None], class_id[:, None].astype(np.float32)], 1))
    names = dict(enumerate(COCO_NAMES))
    res = Results(clean, path="street.jpg", names=names, boxes=boxes, masks=torch.from_numpy(full))
    fastest: list[float] = []
    return median_ms(res.plot, runs, None, fastest), fastest[0]


def bench_writer(frames: list[np.ndarray], fps: float) -> tuple[float, float]:
    """(median ms per write(), mean ms per frame including open and the final flush)."""
    per_write = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.mp4"
        start = time.perf_counter()
        with VideoWriter(path, fps_hint=fps) as writer:
            for i, image in enumerate(frames):
                t = time.perf_counter()
                writer.write(image, i / fps)
                per_write.append(time.perf_counter() - t)
        elapsed = time.perf_counter() - start
        size = path.stat().st_size
    print(f"writer: {len(frames)} frames -> {size / 1e6:.2f} MB")
    return statistics.median(per_write) * 1000.0, elapsed / len(frames) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=STREET_CLIP)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--peer-runs", type=int, default=20)
    parser.add_argument("--counts", type=int, nargs="+", default=[4, 16, 32])
    parser.add_argument("--encode-frames", type=int, default=150)
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()

    frames = read_frames(args.video, list(range(max(1, args.encode_frames))))
    clean = frames[min(30, len(frames) - 1)]
    h, w = clean.shape[:2]
    print(f"frame {w}x{h} from {args.video.name}; cv2 threads {cv2.getNumThreads()}")
    # All of ours first: torch's OpenMP workers spin after each op and would steal our CPU time.
    ours_by_n = {n: bench_ours(clean, n, args.runs) for n in args.counts}
    peer_by_n = {n: None if args.no_peer else bench_peer(clean, n, args.peer_runs) for n in args.counts}
    rows = []
    for n in args.counts:
        (ours, ours_min), parts = ours_by_n[n]
        peer = peer_by_n[n]
        mine = [fmt(v) for v in (ours, ours_min, *(parts[k] for k in ("masks", "boxes", "labels", "hud")))]
        theirs = ["-"] * 3
        if peer:
            theirs = [fmt(peer[0], ".1f"), fmt(peer[1], ".1f"), fmt(peer[0] / ours, ".1f", "x")]
        rows.append([n, *mine, *theirs])
    print_table(COLUMNS, rows)
    print(f"torchvision imported: {'torchvision' in sys.modules}")
    with av.open(str(args.video)) as container:
        rate = container.streams.video[0].average_rate
    fps = float(rate) if rate else 30.0
    write_med, write_mean = bench_writer(frames, fps)
    print(
        f"encode libx264 veryfast crf 23 at {w}x{h}: median {write_med:.2f} ms per write(), "
        f"{write_mean:.2f} ms/frame overall (with open + final flush)"
    )


if __name__ == "__main__":
    main()
