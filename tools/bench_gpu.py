"""GPU benchmark in one command: model-only throughput, whole pipeline at 1/4/8/16 streams, and the peer.

    .venv/bin/python tools/bench_gpu.py                          # on a GPU box: everything, ~5 minutes
    .venv/bin/python tools/bench_gpu.py --device cpu --quick     # CPU smoke test of this script (~1 min)
    .venv/bin/python tools/bench_gpu.py --json bench_gpu.json    # keep the raw numbers

What it measures, in this order, in one process (the peer in a subprocess):

1. **Model only** (PyTorch backend, and TensorRT when usable): per batch size (1, 2, 4, 8, 16) the time of
   one network call on a static 640x384 input (the 720p letterbox), eager vs CUDA-graph replay, after
   warm-up, synchronised; frames/s and the graphs/eager ratio. On the CPU: eager only.
2. **Pipeline**: ``Pipeline`` on N streams (1, 4, 8, 16) made of the shared 720p clips, looped, for
   ``--seconds`` each, recording off; then recording on for ``--record-streams`` streams. Total FPS,
   per-stage p50/p99 latency (preprocess, infer, postprocess, render, encode, end to end) and GPU memory
   (NVML, this process) from streamseg's own telemetry.
3. **Peer**: Ultralytics' documented loop, ``YOLO(pt).predict(source=clip, stream=True, half=True)``, on the
   same clips for the same time, in ``--peer-python`` (default: this interpreter; Ultralytics' predict
   imports torchvision, so a CPU venv without a working torchvision reports the peer as unavailable).
4. A table with FPS, latencies, VRAM and ratios (ours / peer at 1 stream, graphs / eager).

Every number printed is measured in this run; nothing is carried over from elsewhere.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO.parent / "shared" / "assets"
DEFAULT_MODEL = ASSETS / "models" / "yolov8n-seg-fixture.pt"
DEFAULT_CLIPS = [
    ASSETS / "videos" / "street_pedestrians_720p30.mp4",
    ASSETS / "videos" / "street_dance_crowd_720p25.mp4",
    ASSETS / "videos" / "highway_cars_720p30.mp4",
]
STAGES = ("preprocess", "infer", "postprocess", "render", "encode", "end_to_end")

PEER_SCRIPT = r"""
import json, os, sys, time
os.environ.setdefault("YOLO_AUTOINSTALL", "false"); os.environ.setdefault("YOLO_OFFLINE", "true")
model_path, clip, device = sys.argv[1:4]
seconds, imgsz = float(sys.argv[4]), int(sys.argv[5])
from ultralytics import YOLO
model = YOLO(model_path, task="segment")
half = device != "cpu"
frames, t0, t_first = 0, time.perf_counter(), None
for r in model.predict(source=clip, stream=True, half=half, device=device, imgsz=imgsz, verbose=False):
    frames += 1
    if t_first is None:
        t_first = time.perf_counter()
    if time.perf_counter() - t0 > seconds:
        break
t_end = time.perf_counter()
fps = (frames - 1) / (t_end - t_first) if frames > 1 else 0.0
print("PEER_JSON " + json.dumps({"frames": frames, "fps": fps, "half": half}))
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--model", default=str(DEFAULT_MODEL), help="Ultralytics -seg .pt (default: shared fixture)"
    )
    p.add_argument("--clips", nargs="+", default=[str(c) for c in DEFAULT_CLIPS], help="720p clips to loop")
    p.add_argument("--device", default="cuda:0", help="cuda:N, or cpu for a smoke test")
    p.add_argument("--backend", default="auto", choices=("auto", "torch", "tensorrt", "onnxruntime"))
    p.add_argument("--batches", default="1,2,4,8,16", help="model-only batch sizes")
    p.add_argument("--streams", default="1,4,8,16", help="pipeline stream counts")
    p.add_argument(
        "--record-streams", type=int, default=4, help="stream count for the recording-on run (0: skip)"
    )
    p.add_argument("--batch", type=int, default=16, help="pipeline batch size (default: 16)")
    p.add_argument("--seconds", type=float, default=20.0, help="seconds per pipeline run and for the peer")
    p.add_argument("--iters", type=int, default=50, help="timed calls per model-only point")
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--engines-dir", default=str(REPO / "engines"))
    p.add_argument("--peer-python", default=sys.executable, help="python with ultralytics for the peer")
    p.add_argument("--no-peer", action="store_true", help="skip the Ultralytics peer")
    p.add_argument("--quick", action="store_true", help="tiny settings: a smoke test of this script")
    p.add_argument("--json", metavar="OUT", help="write all measurements as JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.batches, args.streams, args.record_streams = "1,2", "1,2", 1
        args.seconds, args.iters, args.imgsz, args.batch = 4.0, 3, 320, 2
        args.clips = args.clips[:1]
    return args


def ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def pick_backend(args: argparse.Namespace) -> str:
    from streamseg.inference.devices import choose_backend

    if args.backend != "auto":
        return str(args.backend)
    backend, _, _ = choose_backend("auto", args.device, warn=False)
    return "torch" if backend == "onnxruntime" and args.device == "cpu" else backend


# ---------------------------------------------------------------------------------------------- model only
def model_only(args: argparse.Namespace) -> list[dict[str, Any]]:
    import torch

    from streamseg.inference.backends import create_backend
    from streamseg.inference.letterbox import make_letterbox

    input_hw = make_letterbox((720, 1280), args.imgsz).input_hw
    cuda = args.device.startswith("cuda")
    variants: list[tuple[str, dict[str, Any]]] = [("torch eager", {"cuda_graphs": False})]
    if cuda:
        variants.append(("torch graphs", {"cuda_graphs": True}))
    rows = []
    for label, options in variants:
        backend: Any = create_backend("torch", Path(args.model), args.device, **options)
        rows += _time_backend(label, backend, ints(args.batches), input_hw, args.iters, torch)
        backend.close()
        del backend
        if cuda:
            torch.cuda.empty_cache()
    if cuda and pick_backend(args) == "tensorrt":
        rows += _tensorrt_model_only(args, input_hw, torch)
    return rows


def _tensorrt_model_only(
    args: argparse.Namespace, input_hw: tuple[int, int], torch: Any
) -> list[dict[str, Any]]:
    from streamseg.config import ModelConfig
    from streamseg.inference.loader import open_backend

    try:
        cfg = ModelConfig(path=args.model, backend="tensorrt", device=args.device, imgsz=args.imgsz, batch=16)
        backend: Any = open_backend(dataclasses.replace(cfg, engines_dir=args.engines_dir))
    except Exception as exc:  # report, keep benchmarking the rest
        print(f"TensorRT model-only skipped: {exc}", file=sys.stderr)
        return []
    hw = backend.info.fixed_input_hw or input_hw
    return _time_backend("tensorrt", backend, ints(args.batches), hw, args.iters, torch)


def _time_backend(
    label: str, backend: Any, batches: list[int], input_hw: tuple[int, int], iters: int, torch: Any
) -> list[dict[str, Any]]:
    rows = []
    stream = backend.stream
    for n in batches:
        context = torch.cuda.stream(stream) if stream is not None else _Null()
        with context, torch.inference_mode():
            buf = backend.input_buffer(n, input_hw)
            buf.copy_(torch.rand(buf.shape, device=buf.device, dtype=torch.float32))
            for _ in range(3):
                backend.run_input(n, input_hw)
            _sync(stream)
            times = []
            for _ in range(iters):
                t0 = time.perf_counter()
                backend.run_input(n, input_hw)
                _sync(stream)
                times.append(time.perf_counter() - t0)
        ms = statistics.median(times) * 1000
        rows.append({"variant": label, "batch": n, "ms_per_call": ms, "fps": n / (ms / 1000)})
        print(f"  {label:<13} batch {n:>2}: {ms:8.2f} ms/call  {n / (ms / 1000):8.1f} frames/s", flush=True)
    return rows


def _sync(stream: Any) -> None:
    if stream is not None:
        stream.synchronize()


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# ---------------------------------------------------------------------------------------------- pipeline
def pipeline_run(args: argparse.Namespace, backend: str, streams: int, record: bool) -> dict[str, Any]:
    from streamseg.config import Config, ModelConfig, OutputConfig, PipelineConfig, SourceConfig
    from streamseg.pipeline import Pipeline
    from streamseg.telemetry import Telemetry

    clips = [args.clips[i % len(args.clips)] for i in range(streams)]
    sources = tuple(SourceConfig(uri=c, name=f"s{i}") for i, c in enumerate(clips))
    loops = "loop" in {f.name for f in dataclasses.fields(PipelineConfig)}
    pipe_cfg = PipelineConfig(**({"loop": True} if loops else {}))
    out_dir = Path(tempfile.mkdtemp(prefix="bench-gpu-"))
    cfg = Config(
        sources=sources,
        model=ModelConfig(
            path=args.model,
            backend=backend,
            device=args.device,
            imgsz=args.imgsz,
            batch=args.batch,
            engines_dir=args.engines_dir,
        ),
        output=OutputConfig(record=str(out_dir / "rec.mp4") if record else None),
        pipeline=pipe_cfg,
    )
    gpu_index = None if args.device == "cpu" else int(args.device.partition(":")[2] or 0)
    telemetry = Telemetry(gpu_index=gpu_index)
    pipeline = Pipeline(config=cfg, telemetry=telemetry).open()
    frames, t0 = 0, time.perf_counter()
    vram: list[int] = []
    next_probe = t0 + 1.0
    try:
        for _ in pipeline.results():
            frames += 1
            now = time.perf_counter()
            if now >= next_probe:
                snap = telemetry.snapshot()
                if "gpu_memory_bytes" in snap:
                    vram.append(int(snap["gpu_memory_bytes"]))
                next_probe = now + 1.0
            if now - t0 >= args.seconds:
                pipeline.stop()
                break
    finally:
        elapsed = time.perf_counter() - t0
        pipeline.stop()
        pipeline.join()
    snap = telemetry.snapshot()
    telemetry.close()
    stages = snap.get("stages", {})
    return {
        "streams": streams,
        "record": record,
        "backend": backend,
        "frames": frames,
        "seconds": elapsed,
        "fps": frames / elapsed if elapsed else 0.0,
        "looped": loops,
        "stages_ms": {
            s: {"p50": stages[s]["p50_ms"], "p99": stages[s]["p99_ms"]} for s in STAGES if s in stages
        },
        "vram_mib_first_last_max": [v / 2**20 for v in (vram[0], vram[-1], max(vram))] if vram else None,
    }


# ---------------------------------------------------------------------------------------------- peer
def peer(args: argparse.Namespace) -> dict[str, Any]:
    results = []
    for clip in args.clips:
        cmd = [
            args.peer_python,
            "-c",
            PEER_SCRIPT,
            args.model,
            clip,
            args.device,
            str(args.seconds),
            str(args.imgsz),
        ]
        env = dict(os.environ, YOLO_VERBOSE="false")
        try:
            out = subprocess.run(
                cmd, capture_output=True, text=True, timeout=args.seconds * 6 + 120, env=env, check=False
            )
        except subprocess.TimeoutExpired:
            return {"available": False, "why": "timed out"}
        line = next((x for x in out.stdout.splitlines() if x.startswith("PEER_JSON ")), None)
        if out.returncode != 0 or line is None:
            tail = (out.stderr.strip().splitlines() or ["no output"])[-1][:200]
            return {"available": False, "why": tail}
        results.append(dict(json.loads(line[len("PEER_JSON ") :]), clip=Path(clip).name))
    fps = statistics.mean(r["fps"] for r in results)
    return {"available": True, "fps": fps, "clips": results}


# ---------------------------------------------------------------------------------------------- report
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_OFFLINE", "true")
    for path in [args.model, *args.clips]:
        if not Path(path).is_file():
            print(f"bench_gpu: missing {path}", file=sys.stderr)
            return 2
    from streamseg.inference.devices import doctor, parse_device

    report: dict[str, Any] = {"args": vars(args), "doctor": []}
    print("== environment")
    for check in doctor(parse_device(args.device)[1]):
        print(f"  {'ok' if check.ok else 'no'}  {check.name}: {check.detail}")
        report["doctor"].append(dataclasses.asdict(check))
    if args.device.startswith("cuda") and not next(c for c in doctor() if c.name == "CUDA (PyTorch)").ok:
        print(
            "bench_gpu: --device cuda requested but no usable GPU (see above); use --device cpu",
            file=sys.stderr,
        )
        return 2
    backend = pick_backend(args)
    report["backend"] = backend

    print(f"== model only ({'eager vs CUDA graphs' if args.device != 'cpu' else 'eager, CPU'})")
    report["model_only"] = model_only(args)

    print(f"== pipeline ({backend} on {args.device}, batch {args.batch}, {args.seconds:g} s per run)")
    runs = []
    for n in ints(args.streams):
        runs.append(pipeline_run(args, backend, n, record=False))
        _print_run(runs[-1])
    if args.record_streams:
        runs.append(pipeline_run(args, backend, args.record_streams, record=True))
        _print_run(runs[-1])
    report["pipeline"] = runs

    report["peer"] = {"available": False, "why": "--no-peer"} if args.no_peer else peer(args)
    print("== peer: Ultralytics predict(stream=True, half=True)")
    if report["peer"]["available"]:
        print(f"  {report['peer']['fps']:.1f} frames/s (mean over clips)")
    else:
        print(f"  unavailable: {report['peer']['why']}")

    print("== ratios")
    ratios = _ratios(report)
    for key, value in ratios.items():
        print(f"  {key}: {value:.2f}x")
    report["ratios"] = ratios
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
        print(f"wrote {args.json}")
    return 0


def _print_run(run: dict[str, Any]) -> None:
    lat = "  ".join(f"{s} {v['p50']:.1f}/{v['p99']:.1f}" for s, v in run["stages_ms"].items())
    vram = run["vram_mib_first_last_max"]
    vram_text = f"VRAM MiB first/last/max {vram[0]:.0f}/{vram[1]:.0f}/{vram[2]:.0f}" if vram else "VRAM n/a"
    rec = "rec on " if run["record"] else "rec off"
    print(
        f"  {run['streams']:>2} streams {rec}: {run['fps']:7.1f} frames/s "
        f"({run['frames']} frames)  {vram_text}"
    )
    print(f"      p50/p99 ms: {lat}")


def _ratios(report: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    rows = report["model_only"]
    eager = {r["batch"]: r["fps"] for r in rows if r["variant"] == "torch eager"}
    graphs = {r["batch"]: r["fps"] for r in rows if r["variant"] == "torch graphs"}
    for b, fps in graphs.items():
        if eager.get(b):
            out[f"graphs/eager batch {b}"] = fps / eager[b]
    one = next((r for r in report["pipeline"] if r["streams"] == 1 and not r["record"]), None)
    if one and report["peer"].get("available") and report["peer"]["fps"]:
        out["ours/peer 1 stream"] = one["fps"] / report["peer"]["fps"]
    return out


if __name__ == "__main__":
    sys.exit(main())
