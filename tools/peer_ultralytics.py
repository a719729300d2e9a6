"""The Ultralytics side of ``tools/bench_vs_ultralytics.py``: "segment a video and save the annotated result".

Runs in the *peer* venv (a plain ``pip install ultralytics onnxruntime``), never in streamseg's, and imports
nothing from streamseg. It does what the Ultralytics docs show for saving annotated video::

    model = YOLO("model.onnx", task="segment")
    for r in model.predict(source=clip, stream=True, imgsz=640, conf=0.25, device="cpu", verbose=False):
        writer.write(r.plot())          # cv2.VideoWriter, fourcc "mp4v"

Timing (same rule as the streamseg side): the model object is built and the clip's size/fps read *before*
the clock starts. ``t0`` is taken just before iterating ``predict``; each frame's departure time is taken
after ``writer.write``; ``t_end`` after ``writer.release()`` (file finalized). The headline rate is
``(frames - 1) / (t_end - t_first)``: it excludes the first frame, which for Ultralytics includes its lazy
predictor setup and ONNX Runtime session creation (streamseg creates its session in ``Pipeline.open()``,
also before its clock). ``first_frame_s`` and ``total_fps`` (all frames from ``t0``) are reported too.

Prints one line ``BENCH_JSON {...}`` on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from importlib.metadata import PackageNotFoundError, version


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "none"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help=".onnx file (the same one streamseg uses)")
    parser.add_argument("--source", required=True, help="video file")
    parser.add_argument("--out", required=True, help="annotated output .mp4 (mp4v)")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument(
        "--max-frames", type=int, default=0, help="stop after this many frames (0: whole clip)"
    )
    args = parser.parse_args()

    import cv2
    from ultralytics import YOLO

    t_load = time.perf_counter()
    model = YOLO(args.model, task="segment")
    load_s = time.perf_counter() - t_load

    cap = cv2.VideoCapture(args.source)
    w, h, fps = (
        int(cap.get(x)) for x in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT, cv2.CAP_PROP_FPS)
    )
    cap.release()
    writer = cv2.VideoWriter(args.out, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))

    frames = 0
    instances = 0
    t_first = None
    t0 = time.perf_counter()
    results = model.predict(
        source=args.source, stream=True, imgsz=args.imgsz, conf=args.conf, device="cpu", verbose=False
    )
    stages: dict[str, list[float]] = {
        "preprocess": [],
        "infer": [],
        "postprocess": [],
        "plot": [],
        "write": [],
    }
    for r in results:
        t_plot = time.perf_counter()
        im = r.plot()
        t_write = time.perf_counter()
        writer.write(im)
        t_done = time.perf_counter()
        stages["plot"].append((t_write - t_plot) * 1e3)
        stages["write"].append((t_done - t_write) * 1e3)
        for ours, theirs in (
            ("preprocess", "preprocess"),
            ("infer", "inference"),
            ("postprocess", "postprocess"),
        ):
            if r.speed.get(theirs) is not None:
                stages[ours].append(float(r.speed[theirs]))
        frames += 1
        instances += len(r)
        if t_first is None:
            t_first = t_done
        if args.max_frames and frames >= args.max_frames:
            break
    results.close()
    writer.release()
    t_end = time.perf_counter()

    if t_first is None:
        print("peer: no frames were produced", file=sys.stderr)
        return 1
    steady_s = t_end - t_first
    report = {
        "side": "ultralytics",
        "frames": frames,
        "load_s": round(load_s, 4),
        "first_frame_s": round(t_first - t0, 4),
        "steady_s": round(steady_s, 4),
        "fps": round((frames - 1) / steady_s, 3) if frames > 1 and steady_s > 0 else None,
        "total_s": round(t_end - t0, 4),
        "total_fps": round(frames / (t_end - t0), 3),
        "instances_per_frame": round(instances / frames, 2),
        "stage_p50_ms": {k: round(statistics.median(v), 3) for k, v in stages.items() if v},
        "output_bytes": os.path.getsize(args.out) if os.path.exists(args.out) else None,
        "versions": {
            n: _version(n)
            for n in ("ultralytics", "torch", "torchvision", "onnxruntime", "opencv-python", "numpy")
        },
        "python": sys.version.split()[0],
    }
    print("BENCH_JSON " + json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
