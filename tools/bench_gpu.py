"""GPU benchmark in one command: ours and the peer as its users scale it, in the same run, with ratios.

    python -m tools.bench_gpu                                   # on a GPU box: everything, ~4-5 minutes
    python -m tools.bench_gpu --device cpu --quick              # CPU smoke test of this script (~2 min)
    python -m tools.bench_gpu --json bench_gpu.json             # keep the raw numbers

What it measures, in this order:

1. **Model only** (PyTorch backend, and TensorRT when usable): one network call per batch size on a
   static 640x384 input (the 720p letterbox), eager vs CUDA-graph replay: the ceiling.
2. **Decode**: our capture path (``PyAVFileSource``) on 1 and N streams of the shared 720p clips, looped:
   NVDEC into device surfaces vs CPU decoding into BGR arrays, frames/s.
3. **Pipeline** (``Pipeline``, ``--decode auto``: NVDEC where there is a GPU): 1 stream and N streams with
   recording off, N streams with every stream recorded (one encoder thread each); N streams with
   ``--decode cpu`` as an ablation. Frames/s over a window after warm-up, per-stage p50/p99, and the
   process's GPU memory (NVML) first/last/max over the window.
4. **Peer**, as Ultralytics users scale it: one process per stream, all at once, each
   ``YOLO(pt).predict(source=clip, stream=True, half=True)`` in a loop over the clip; then the same with
   ``r.plot()`` + ``cv2.VideoWriter`` (saving the annotated video); and 1 process. Throughput is the sum
   over the processes of the frames each finished inside one shared time window.
5. **Ratios and targets** (issue 10: N=16 rec off >= 1500 fps and >= 4x the peer, N recorded >= 480
   fps and >= 2x, 1 stream >= 450, GPU memory <= 3 GB and flat) and how many 720p30 cameras each
   configuration serves in real time.

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
import threading
import time
from pathlib import Path
from typing import Any

from tools.common import DANCE_CLIP, ENGINES_DIR, FIXTURE_PT, HIGHWAY_CLIP, STREET_CLIP, ratio

DEFAULT_CLIPS = [STREET_CLIP, DANCE_CLIP, HIGHWAY_CLIP]
STAGES = ("queue_wait", "preprocess", "infer", "postprocess", "render", "encode", "end_to_end")
CAMERA_FPS = 30.0  # "real time" below means this many frames a second per 720p camera

# One Ultralytics process: predict in a loop over the clip; count frames done inside [start, start + seconds]
# (wall clock, shared by all processes of a run), so N processes are measured over the same window.
PEER_SCRIPT = r"""
import json, os, sys, time
os.environ.setdefault("YOLO_AUTOINSTALL", "false"); os.environ.setdefault("YOLO_OFFLINE", "true")
model_path, clip, device, start, seconds, imgsz, save = sys.argv[1:8]
start, seconds, imgsz, save = float(start), float(seconds), int(imgsz), save == "1"
import cv2
from ultralytics import YOLO
model = YOLO(model_path, task="segment")
half = device != "cpu"
writer, frames, warm = None, 0, 0
while time.time() < start + seconds:
    for r in model.predict(source=clip, stream=True, half=half, device=device, imgsz=imgsz, verbose=False):
        if save:
            image = r.plot()
            if writer is None:
                h, w = image.shape[:2]
                out = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"peer_{os.getpid()}.mp4")
                writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*"mp4v"), 30, (w, h))
            writer.write(image)
        now = time.time()
        if now < start:
            warm += 1
        elif now <= start + seconds:
            frames += 1
        else:
            break
if writer is not None:
    writer.release()
report = {"frames": frames, "fps": frames / seconds, "warm_frames": warm, "half": half}
print("PEER_JSON " + json.dumps(report))
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(FIXTURE_PT), help="Ultralytics -seg .pt (default: shared fixture)")
    p.add_argument("--clips", nargs="+", default=[str(c) for c in DEFAULT_CLIPS], help="720p clips to loop")
    p.add_argument("--device", default="cuda:0", help="cuda:N, or cpu for a smoke test")
    p.add_argument("--backend", default="auto", choices=("auto", "torch", "tensorrt", "onnxruntime"))
    p.add_argument("--batches", default="1,4,16", help="model-only batch sizes")
    p.add_argument("--streams", type=int, default=16, help="streams in the many-camera runs (default: 16)")
    p.add_argument("--batch", type=int, default=16, help="pipeline batch size (default: 16)")
    p.add_argument("--seconds", type=float, default=12.0, help="measurement window per run")
    p.add_argument("--warmup", type=float, default=4.0, help="seconds run before each window")
    p.add_argument("--iters", type=int, default=30, help="timed calls per model-only point")
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--engines-dir", default=str(ENGINES_DIR))
    p.add_argument("--peer-python", default=sys.executable, help="python with ultralytics for the peer")
    p.add_argument("--no-peer", action="store_true", help="skip the Ultralytics peer")
    p.add_argument("--no-ablation", action="store_true", help="skip the --decode cpu pipeline run")
    p.add_argument("--quick", action="store_true", help="tiny settings: a smoke test of this script")
    p.add_argument("--json", metavar="OUT", help="write all measurements as JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.batches, args.streams, args.batch = "1,2", 2, 2
        args.seconds, args.warmup, args.iters, args.imgsz = 4.0, 2.0, 3, 320
        args.clips = args.clips[:1]
    return args


def ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def pick_backend(args: argparse.Namespace) -> str:
    from streamseg.inference.runtimes.select import choose_backend

    if args.backend != "auto":
        return str(args.backend)
    backend, _, _ = choose_backend("auto", args.device, warn=False)
    return "torch" if backend == "onnxruntime" and args.device == "cpu" else backend


# ---------------------------------------------------------------------------------------------- model only
def model_only(args: argparse.Namespace) -> list[dict[str, Any]]:
    import torch

    from streamseg.inference.letterbox import make_letterbox
    from streamseg.inference.runtimes import create_backend

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
    from streamseg.inference.runtimes.select import open_backend

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


# ---------------------------------------------------------------------------------------------- decode
def decode_run(args: argparse.Namespace, streams: int, gpu: bool) -> dict[str, Any]:
    """Frames/s of our capture path over ``streams`` threads (each loops its clip) for the window."""
    from streamseg.capture import PyAVFileSource
    from streamseg.gpu.decode import DecodeTarget

    target = None
    if gpu:
        import torch

        target = DecodeTarget(torch.device(args.device), nvdec=args.device.startswith("cuda"))
    counts = [0] * streams
    stop = threading.Event()
    counting = threading.Event()
    errors: list[str] = []

    def work(i: int) -> None:
        clip = args.clips[i % len(args.clips)]
        try:
            while not stop.is_set():
                with PyAVFileSource(clip, decode=target) as src:
                    while not stop.is_set() and src.read() is not None:
                        if counting.is_set():
                            counts[i] += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(streams)]
    for t in threads:
        t.start()
    time.sleep(min(args.warmup, 2.0))
    counting.set()
    time.sleep(args.seconds)
    counting.clear()
    stop.set()
    for t in threads:
        t.join(timeout=10)
    fps = sum(counts) / args.seconds
    label = "NVDEC" if gpu and args.device.startswith("cuda") else ("device surfaces" if gpu else "CPU")
    print(f"  decode {label:<15} {streams:>2} streams: {fps:8.1f} frames/s", flush=True)
    return {"streams": streams, "decoder": label, "fps": fps, "errors": errors[:3]}


# ---------------------------------------------------------------------------------------------- pipeline
def pipeline_run(
    args: argparse.Namespace, backend: str, streams: int, record: bool, decode: str = "auto"
) -> dict[str, Any]:
    from streamseg.config import Config, ModelConfig, OutputConfig, PipelineConfig, SourceConfig
    from streamseg.pipeline import Pipeline
    from streamseg.telemetry import Telemetry

    clips = [args.clips[i % len(args.clips)] for i in range(streams)]
    sources = tuple(SourceConfig(uri=c, name=f"s{i}") for i, c in enumerate(clips))
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
        pipeline=PipelineConfig(loop=True, decode=decode),
    )
    gpu_index = None if args.device == "cpu" else int(args.device.partition(":")[2] or 0)
    telemetry = Telemetry(gpu_index=gpu_index)
    pipeline = Pipeline(config=cfg, telemetry=telemetry).open()
    frames, vram = 0, []
    t_first = t_window = t_end = None
    next_probe = 0.0
    try:
        for _ in pipeline.results(host_masks=False):
            now = time.perf_counter()
            if t_first is None:
                t_first = now
                t_window = now + args.warmup
            if now >= t_window:  # type: ignore[operator]
                frames += 1
                if now >= next_probe:
                    snap = telemetry.snapshot()
                    if "gpu_memory_bytes" in snap:
                        vram.append(int(snap["gpu_memory_bytes"]))
                    next_probe = now + 1.0
            if now - t_window >= args.seconds:  # type: ignore[operator]
                t_end = now
                break
    finally:
        pipeline.stop()
        pipeline.join()
    snap = telemetry.snapshot()
    telemetry.close()
    elapsed = (t_end or time.perf_counter()) - (t_window or 0.0)
    stages = snap.get("stages", {})
    run = {
        "streams": streams,
        "record": record,
        "decode": decode,
        "backend": backend,
        "frames": frames,
        "seconds": elapsed,
        "fps": frames / elapsed if elapsed > 0 else 0.0,
        "stages_ms": {
            s: {"p50": stages[s]["p50_ms"], "p99": stages[s]["p99_ms"]} for s in STAGES if s in stages
        },
        "vram_mib_first_last_max": [v / 2**20 for v in (vram[0], vram[-1], max(vram))] if vram else None,
        "recorded_bytes": sum(p.stat().st_size for p in out_dir.glob("*.mp4")) if record else 0,
    }
    _print_run(run)
    return run


def _print_run(run: dict[str, Any]) -> None:
    lat = "  ".join(f"{s} {v['p50']:.1f}/{v['p99']:.1f}" for s, v in run["stages_ms"].items())
    vram = run["vram_mib_first_last_max"]
    vram_text = f"VRAM MiB first/last/max {vram[0]:.0f}/{vram[1]:.0f}/{vram[2]:.0f}" if vram else "VRAM n/a"
    rec = "recorded" if run["record"] else "rec off "
    print(
        f"  {run['streams']:>2} streams {rec} decode {run['decode']:<4}: {run['fps']:8.1f} frames/s "
        f"({run['frames']} frames)  {vram_text}",
        flush=True,
    )
    print(f"      p50/p99 ms: {lat}", flush=True)


# ---------------------------------------------------------------------------------------------- peer
def peer(args: argparse.Namespace, processes: int, save: bool) -> dict[str, Any]:
    """``processes`` Ultralytics processes at once, one per stream, measured over one shared window."""
    start = time.time() + args.warmup + 8.0 + 0.5 * processes  # model load + CUDA init, all processes
    env = dict(os.environ, YOLO_VERBOSE="false")
    procs = []
    for i in range(processes):
        clip = args.clips[i % len(args.clips)]
        cmd = [args.peer_python, "-c", PEER_SCRIPT, args.model, clip, _peer_device(args.device)]
        cmd += [str(start), str(args.seconds), str(args.imgsz), "1" if save else "0"]
        procs.append(
            subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        )
    results, why = [], None
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=start - time.time() + args.seconds + 120)
        except subprocess.TimeoutExpired:
            proc.kill()
            why = "timed out"
            continue
        line = next((x for x in out.splitlines() if x.startswith("PEER_JSON ")), None)
        if proc.returncode != 0 or line is None:
            why = (err.strip().splitlines() or ["no output"])[-1][:200]
            continue
        results.append(json.loads(line[len("PEER_JSON ") :]))
    if len(results) < processes:
        print(
            f"  peer x{processes} {'plot+VideoWriter' if save else 'predict'}: unavailable ({why})",
            flush=True,
        )
        return {"available": False, "why": why, "processes": processes, "save": save}
    fps = sum(r["fps"] for r in results)
    warm_short = sum(1 for r in results if r["warm_frames"] == 0)
    label = "predict+plot+VideoWriter" if save else "predict(stream, half)"
    print(f"  peer {processes:>2} processes {label:<24}: {fps:8.1f} frames/s", flush=True)
    return {"available": True, "fps": fps, "processes": processes, "save": save, "not_warm": warm_short}


def _peer_device(device: str) -> str:
    return device.partition(":")[2] or "0" if device.startswith("cuda") else "cpu"


# ---------------------------------------------------------------------------------------------- report
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_OFFLINE", "true")
    for path in [args.model, *args.clips]:
        if not Path(path).is_file():
            print(f"bench_gpu: missing {path}", file=sys.stderr)
            return 2
    from streamseg.config.devices import parse_device
    from streamseg.pipeline.plan import doctor

    report: dict[str, Any] = {"args": vars(args), "doctor": []}
    print("== environment", flush=True)
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
    n = args.streams

    print(f"== model only ({'eager vs CUDA graphs' if args.device != 'cpu' else 'eager, CPU'})", flush=True)
    report["model_only"] = model_only(args)

    print("== decode (our capture path, clips looped)", flush=True)
    report["decode"] = [decode_run(args, s, gpu) for s in (1, n) for gpu in (True, False)]

    print(
        f"== pipeline ({backend} on {args.device}, batch {args.batch}, {args.seconds:g} s windows)",
        flush=True,
    )
    runs = [
        pipeline_run(args, backend, 1, record=False),
        pipeline_run(args, backend, n, record=False),
        pipeline_run(args, backend, n, record=True),
    ]
    if not args.no_ablation:
        runs.append(pipeline_run(args, backend, n, record=False, decode="cpu"))
    report["pipeline"] = runs

    print("== peer: Ultralytics, one process per stream", flush=True)
    if args.no_peer:
        report["peer"] = []
    else:
        report["peer"] = [peer(args, 1, save=False), peer(args, n, save=False), peer(args, n, save=True)]

    print("== targets and ratios (same run)", flush=True)
    report["summary"] = summary(report, n)
    for line in report["summary"]["lines"]:
        print(f"  {line}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
        print(f"wrote {args.json}")
    return 0


def summary(report: dict[str, Any], n: int) -> dict[str, Any]:
    """Targets from issue 10, ratios to the peer, and real-time camera counts; every input from this run."""
    runs = report["pipeline"]
    peers = {(p["processes"], p["save"]): p for p in report["peer"] if p.get("available")}

    def ours(streams: int, record: bool, decode: str = "auto") -> dict[str, Any] | None:
        return next(
            (r for r in runs if r["streams"] == streams and r["record"] == record and r["decode"] == decode),
            None,
        )

    lines, out = [], {}
    checks = [
        (f"{n} streams, recording off", ours(n, False), peers.get((n, False)), 1500.0, 4.0),
        (f"{n} streams, all recorded", ours(n, True), peers.get((n, True)), 480.0, 2.0),
        ("1 stream, recording off", ours(1, False), peers.get((1, False)), 450.0, None),
    ]
    for label, run, peer_run, target_fps, target_ratio in checks:
        if run is None:
            continue
        fps = run["fps"]
        to_peer = ratio(fps, peer_run["fps"] if peer_run else None)
        met = fps >= target_fps and (
            target_ratio is None or (to_peer is not None and to_peer >= target_ratio)
        )
        peer_text = f"peer {peer_run['fps']:.1f}, ratio {to_peer:.2f}x" if to_peer is not None else "peer n/a"
        lines.append(
            f"{label}: ours {fps:.1f} fps, {peer_text}; target >= {target_fps:g} fps"
            + (f" and >= {target_ratio:g}x" if target_ratio else "")
            + f": {'met' if met else 'NOT met'}; {int(fps // CAMERA_FPS)} x 720p30 cameras in real time"
        )
        out[label] = {"ours": fps, "ratio": to_peer, "met": met}
    big = ours(n, False)
    if big and big["vram_mib_first_last_max"]:
        first, last, peak = big["vram_mib_first_last_max"]
        flat = last <= first * 1.05 + 64
        lines.append(
            f"GPU memory at {n} streams ({big['frames']} frames): first {first:.0f}, last {last:.0f}, "
            f"max {peak:.0f} MiB; target <= 3072 MiB and flat: "
            + ("met" if peak <= 3072 and flat else "NOT met")
        )
    cpu_decode = ours(n, False, "cpu")
    if big and cpu_decode and cpu_decode["fps"]:
        lines.append(
            f"NVDEC vs CPU decode, whole pipeline at {n} streams: {big['fps'] / cpu_decode['fps']:.2f}x"
        )
    dec = {(d["streams"], d["decoder"]): d["fps"] for d in report["decode"]}
    for s in sorted({d["streams"] for d in report["decode"]}):
        gpu_fps = next((v for (k, name), v in dec.items() if k == s and name != "CPU"), None)
        cpu_fps = dec.get((s, "CPU"))
        if gpu_fps and cpu_fps:
            lines.append(
                f"decode alone, {s} streams: device {gpu_fps:.0f} vs CPU {cpu_fps:.0f} frames/s "
                f"({gpu_fps / cpu_fps:.2f}x)"
            )
    return {"lines": lines, "checks": out}


if __name__ == "__main__":
    sys.exit(main())
