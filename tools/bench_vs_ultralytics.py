"""End-to-end throughput: streamseg vs. Ultralytics on the same clip, the same ONNX file and the same imgsz.

What one run does, per clip (and per --repeat round):

  1. exports the .pt once to ONNX through streamseg's own cache (``resolve_model``), so both sides load the
     byte-identical .onnx file (an .onnx passed with --model is used as is);
  2. PEER  - in the Ultralytics venv (--peer-venv), tools/peer_ultralytics.py does what an Ultralytics user
     does to "segment a video and save the annotated result": ``YOLO(onnx, task="segment")``,
     ``model.predict(source=clip, stream=True, ...)``, ``r.plot()``, ``cv2.VideoWriter`` with fourcc mp4v;
  3. OURS  - in this venv (a subprocess of this script), ``Pipeline(...).results()`` with ``record=``
     (annotated H.264 mp4), streamseg's default batch/threads/queues unless --batch/--threads are given,
     plus the per-stage telemetry p50s;
  4. CEILING - ONNX Runtime alone, with the session options streamseg uses (same backend factory, same
     threads), on the letterboxed first frame of the clip at batch 1 and at the pipeline batch; median of
     --ceiling-runs calls (half just before, half just after the peer/ours pair, so the ceiling sees the
     same machine load) -> frames/s. "% of ceiling" = ours FPS / ceiling FPS at the pipeline batch.

Peer and ours alternate which goes first (per clip and per round) to spread machine noise.

Timing rule (identical for both sides): the model object is built before the clock starts (Ultralytics
``YOLO(...)``; streamseg ``Pipeline.open()``). The clock starts just before iterating; a frame "departs" when
its annotated image has been handed to the video writer; the run ends when the output file is finalized
(``writer.release()`` / pipeline join). FPS = (frames - 1) / (t_end - t_first_departure): the first frame is
excluded because Ultralytics creates its predictor and ONNX Runtime session lazily inside it, and because it
absorbs a pipeline's fill time. ``total_fps`` (all frames, from the clock start) is kept in --json output.

Absolute numbers on a shared machine are noisy (other jobs steal cores; the load average is recorded
before/after each run). Quote the ratios (ours/peer, % of ceiling), not the absolute FPS.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tools.common import (
    DANCE_CLIP,
    ENGINES_DIR,
    FIXTURE_PT,
    PEER_VENV,
    STREET_CLIP,
    Column,
    alternate,
    child_env,
    ensure_peer_venv,
    fmt,
    load_average,
    print_table,
    ratio,
    tool_command,
)

DEFAULT_CLIPS = [str(STREET_CLIP), str(DANCE_CLIP)]
DEFAULT_MODEL = str(FIXTURE_PT)
# Launched by path with the peer venv's python: that venv has no streamseg (and no tools package).
PEER_SCRIPT = Path(__file__).resolve().parent / "peer_ultralytics.py"
JSON_PREFIX = "BENCH_JSON "

EPILOG = """\
examples:
  # quick check (40 frames per clip), reusing an existing Ultralytics venv
  python -m tools.bench_vs_ultralytics --peer-venv /work/peer/venv --max-frames 40

  # the full benchmark: both default clips, 3 rounds, raw numbers saved
  python -m tools.bench_vs_ultralytics --peer-venv /work/peer/venv --repeat 3 --json bench.json

  # your own clip and model (.pt is exported once into --engines-dir; .onnx is used as is)
  python -m tools.bench_vs_ultralytics --clips my.mp4 --model my-seg.pt --imgsz 640

peer venv: without --peer-venv the script uses .bench/peer-venv in the repo and, if it does not exist,
creates it with `python3 -m venv` + `pip install ultralytics onnxruntime` (a multi-GB download: torch,
torchvision, ...). Ultralytics runs there with YOLO_AUTOINSTALL=false so it never pip-installs at run time.

Run it from the repository root with streamseg's venv: the "ours" and "ceiling" parts import streamseg.
Absolute FPS on a shared machine is noisy; quote the ratios.
"""


# --------------------------------------------------------------------------------------------- helpers
def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def loadavg() -> float | None:
    load = load_average()
    return None if load is None else round(load, 2)


def parse_report(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.splitlines()):
        if line.startswith(JSON_PREFIX):
            return dict(json.loads(line[len(JSON_PREFIX) :]))
    raise RuntimeError("no BENCH_JSON line in the worker's output")


def run_worker(cmd: list[str], env: dict[str, str] | None, cwd: str, what: str) -> dict[str, Any]:
    before = loadavg()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise RuntimeError(f"{what} failed with exit code {proc.returncode} (its output is above)")
    report = parse_report(proc.stdout)
    report["loadavg_before"], report["loadavg_after"] = before, loadavg()
    return report


def count_video_frames(path: Path) -> int | None:
    """Frames in a recording, by demuxing packets (no decoding)."""
    try:
        import av

        with av.open(str(path)) as container:
            return sum(1 for p in container.demux(video=0) if p.size)
    except Exception:
        return None


def median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(statistics.median(vals), 3) if vals else None


# ------------------------------------------------------------------------------------ in-venv workers
def worker_ours(spec: dict[str, Any]) -> dict[str, Any]:
    """streamseg's Pipeline on one clip with a recording; same timing rule as the peer script."""
    from streamseg import __version__
    from streamseg.config import Config, ModelConfig, OutputConfig, SourceConfig
    from streamseg.pipeline import Pipeline
    from streamseg.telemetry import Telemetry

    model_kw = {k: spec[k] for k in ("batch", "threads") if spec.get(k) is not None}
    cfg = Config(
        sources=(SourceConfig(spec["clip"]),),
        model=ModelConfig(path=spec["model"], imgsz=spec["imgsz"], conf=spec["conf"], **model_kw),
        output=OutputConfig(record=spec["out"]),
    )
    telemetry = Telemetry(gpu_index=None)
    pipeline = Pipeline(config=cfg, telemetry=telemetry)
    t_load = time.perf_counter()
    pipeline.open()
    load_s = time.perf_counter() - t_load

    frames = instances = 0
    t_first = None
    max_frames = spec.get("max_frames") or 0
    t0 = time.perf_counter()
    results = pipeline.results()
    for r in results:
        frames += 1
        instances += len(r.xyxy)
        if t_first is None:
            t_first = time.perf_counter()
        if max_frames and frames >= max_frames:
            break
    results.close()  # stop + join: the render thread finalizes the recording
    t_end = time.perf_counter()
    snap = telemetry.snapshot()
    telemetry.close()
    if t_first is None:
        raise RuntimeError("streamseg produced no frames")
    steady_s = t_end - t_first
    stages = {name: st["p50_ms"] for name, st in snap.get("stages", {}).items()}
    out = Path(spec["out"])
    return {
        "side": "streamseg",
        "frames": frames,
        "load_s": round(load_s, 4),
        "first_frame_s": round(t_first - t0, 4),
        "steady_s": round(steady_s, 4),
        "fps": round((frames - 1) / steady_s, 3) if frames > 1 and steady_s > 0 else None,
        "total_s": round(t_end - t0, 4),
        "total_fps": round(frames / (t_end - t0), 3),
        "instances_per_frame": round(instances / frames, 2),
        "output_bytes": out.stat().st_size if out.exists() else None,
        "stage_p50_ms": stages,
        "batch": snap.get("batch"),
        "config_batch": cfg.model.batch,
        "config_threads": cfg.model.threads,
        "rss_peak_mib": round(snap["rss_peak_bytes"] / 2**20, 1) if "rss_peak_bytes" in snap else None,
        "versions": {"streamseg": __version__, **_versions("onnxruntime", "av", "numpy", "opencv-python")},
    }


def worker_ceiling(spec: dict[str, Any]) -> dict[str, Any]:
    """ONNX Runtime alone, with streamseg's session settings, on the clip's letterboxed first frame."""
    import numpy as np

    from streamseg.capture import open_source
    from streamseg.config import ModelConfig, SourceConfig
    from streamseg.inference.letterbox import to_tensor
    from streamseg.inference.runtimes import create_backend
    from streamseg.inference.runtimes.select import select_backend
    from streamseg.inference.yolo.engine import SegmentationEngine
    from streamseg.inference.yolo.postprocess import Thresholds

    defaults = ModelConfig()
    threads = spec["threads"] if spec.get("threads") is not None else defaults.threads
    # The runtime the pipeline picks for this model with the default backend ("auto") and device.
    name, device, _ = select_backend(ModelConfig(path=spec["model"], threads=threads), quiet=True)
    source = open_source(SourceConfig(spec["clip"]))
    frame = source.read()
    source.close()
    if frame is None:
        raise RuntimeError(f"{spec['clip']}: no frame")
    backend = create_backend(name, Path(spec["model"]), device, threads)
    engine = SegmentationEngine(backend, spec["imgsz"], Thresholds(0.25, 0.7, 300))
    lb = engine.letterbox_for(frame.image.shape[:2])
    h, w = lb.input_hw
    one = np.empty((3, h, w), np.float32)
    to_tensor(lb.apply(frame.image), one)
    out: dict[str, Any] = {"side": "ceiling", "input_hw": [h, w], "threads": threads, "by_batch": {}}
    for batch in sorted(set(spec["batches"])):
        x = np.ascontiguousarray(np.broadcast_to(one, (batch, 3, h, w)))
        for _ in range(spec["warmup"]):
            backend.infer(x)
        times = []
        for _ in range(spec["runs"]):
            t = time.perf_counter()
            backend.infer(x)
            times.append(time.perf_counter() - t)
        med = statistics.median(times)
        out["by_batch"][str(batch)] = {
            "shape": [batch, 3, h, w],
            "median_ms": round(med * 1e3, 2),
            "min_ms": round(min(times) * 1e3, 2),
            "fps": round(batch / med, 3),
            "times_ms": [round(t * 1e3, 3) for t in times],
        }
    backend.close()
    return out


def _versions(*names: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for n in names:
        try:
            found[n] = version(n)
        except PackageNotFoundError:
            found[n] = "none"
    return found


def worker_main(kind: str, spec_json: str) -> int:
    spec = json.loads(spec_json)
    report = worker_ours(spec) if kind == "ours" else worker_ceiling(spec)
    print(JSON_PREFIX + json.dumps(report), flush=True)
    return 0


# ------------------------------------------------------------------------------------------- driver
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench_vs_ultralytics.py",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--clips",
        nargs="+",
        default=DEFAULT_CLIPS,
        metavar="VIDEO",
        help="clips (default: the two street clips)",
    )
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="-seg .pt (exported once) or .onnx (default: the fixture model)",
    )
    p.add_argument(
        "--engines-dir",
        default=str(ENGINES_DIR),
        metavar="DIR",
        help="streamseg's export cache (default: <repo>/engines)",
    )
    p.add_argument("--imgsz", type=int, default=640, help="network input size, both sides (default: 640)")
    p.add_argument(
        "--conf", type=float, default=0.25, help="confidence threshold, both sides (default: 0.25)"
    )
    p.add_argument(
        "--max-frames", type=int, default=0, metavar="N", help="stop each run after N frames (0: whole clip)"
    )
    p.add_argument(
        "--repeat", type=int, default=1, metavar="N", help="rounds; the table shows medians (default: 1)"
    )
    p.add_argument(
        "--peer-venv",
        default=str(PEER_VENV),
        metavar="PATH",
        help="venv with `pip install ultralytics onnxruntime` (default: .bench/peer-venv, made if missing)",
    )
    p.add_argument(
        "--batch", type=int, help="streamseg batch (default: streamseg's, 4); also the ceiling's batch"
    )
    p.add_argument(
        "--threads",
        type=int,
        help="streamseg/ceiling ORT intra-op threads (default: streamseg's, 0 = all cores)",
    )
    p.add_argument(
        "--ceiling-runs",
        type=int,
        default=20,
        metavar="N",
        help="timed ORT calls per batch size (default: 20)",
    )
    p.add_argument("--no-ceiling", action="store_true", help="skip the ONNX Runtime-only ceiling")
    p.add_argument(
        "--keep-videos", metavar="DIR", help="keep both annotated recordings here (default: a temp dir)"
    )
    p.add_argument("--json", metavar="OUT", help="save every raw number (per run, per side) as JSON")
    p.add_argument(
        "--report",
        metavar="JSON",
        help="only re-print the table from a file saved with --json (runs nothing)",
    )
    p.add_argument("--worker", nargs=2, metavar=("KIND", "SPEC"), help=argparse.SUPPRESS)
    return p


class Bench:
    """Runs the three kinds of worker and keeps their reports."""

    def __init__(self, args: argparse.Namespace, peer_python: Path, onnx: Path, pipeline_batch: int) -> None:
        self.args = args
        self.peer_python = peer_python
        self.onnx = onnx
        self.pipeline_batch = pipeline_batch
        self.tmp = "."
        self.out_dir = Path(".")
        self.runs: list[dict[str, Any]] = []
        self.ceilings: list[dict[str, Any]] = []
        self.peer_env = dict(os.environ, YOLO_AUTOINSTALL="false", YOLO_VERBOSE="false")
        self.ours_env = child_env()  # the workers import this checkout, whatever their cwd
        self.spec = {
            "model": str(onnx),
            "imgsz": args.imgsz,
            "conf": args.conf,
            "max_frames": args.max_frames,
        }

    def _self_cmd(self, kind: str, spec: dict[str, Any]) -> list[str]:
        return tool_command("bench_vs_ultralytics", "--worker", kind, json.dumps(spec))

    def pipeline_run(self, side: str, clip: str, rnd: int) -> None:
        a = self.args
        out = self.out_dir / f"{Path(clip).stem}_{side}_r{rnd}.mp4"
        log(f"round {rnd + 1}/{a.repeat} {Path(clip).stem}: {side} ...")
        if side == "peer":
            cmd = [str(self.peer_python), str(PEER_SCRIPT), "--model", str(self.onnx), "--source", clip]
            cmd += ["--out", str(out), "--imgsz", str(a.imgsz), "--conf", str(a.conf)]
            cmd += ["--max-frames", str(a.max_frames)]
            rep = run_worker(cmd, self.peer_env, self.tmp, "the Ultralytics run")
        else:
            spec = dict(self.spec, clip=clip, out=str(out), batch=a.batch, threads=a.threads)
            rep = run_worker(self._self_cmd("ours", spec), self.ours_env, self.tmp, "the streamseg run")
        rep.update(clip=clip, round=rnd, recorded_frames=count_video_frames(out))
        self.runs.append(rep)
        log(f"  {side}: {rep['frames']} frames, {rep['fps']} fps (load avg {rep['loadavg_after']})")

    def ceiling(self, clip: str, rnd: int, when: str) -> None:
        a = self.args
        if a.no_ceiling:
            return
        runs = max(1, (a.ceiling_runs + 1) // 2)
        spec = dict(
            self.spec, clip=clip, batches=[1, self.pipeline_batch], runs=runs, warmup=2, threads=a.threads
        )
        log(f"round {rnd + 1}/{a.repeat} {Path(clip).stem}: ONNX Runtime ceiling ({when}) ...")
        rep = run_worker(self._self_cmd("ceiling", spec), self.ours_env, self.tmp, "the ONNX Runtime ceiling")
        rep.update(clip=clip, round=rnd, when=when)
        self.ceilings.append(rep)


def ceiling_fps(ceilings: list[dict[str, Any]], batch: int, best: bool = False) -> float | None:
    """Frames/s from the median (``best``: the fastest) of every timed call at ``batch``, chunks pooled."""
    times = [t for c in ceilings for t in c["by_batch"].get(str(batch), {}).get("times_ms", [])]
    if not times:
        return None
    return round(batch / ((min(times) if best else statistics.median(times)) / 1e3), 3)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker:
        return worker_main(*args.worker)
    if args.report:
        return reprint(Path(args.report))
    for clip in args.clips:
        if not Path(clip).is_file():
            raise SystemExit(f"bench: clip not found: {clip}")
    if args.repeat < 1:
        raise SystemExit("bench: --repeat must be >= 1")

    from streamseg.config import ModelConfig
    from streamseg.inference.model_files import resolve_model

    peer_python = ensure_peer_venv(Path(args.peer_venv).expanduser(), log)
    log(f"resolving {args.model} through streamseg's export cache {args.engines_dir}")
    onnx = resolve_model(args.model, Path(args.engines_dir)).resolve()
    log(f"both sides use {onnx}")
    pipeline_batch = args.batch or ModelConfig().batch

    bench = Bench(args, peer_python, onnx, pipeline_batch)
    with tempfile.TemporaryDirectory(prefix="bench-vs-ul-") as tmp:
        bench.tmp = tmp
        bench.out_dir = Path(args.keep_videos) if args.keep_videos else Path(tmp)
        bench.out_dir.mkdir(parents=True, exist_ok=True)
        for rnd in range(args.repeat):
            for ci, clip in enumerate(args.clips):
                # ceiling half before and half after the pair, so it sees the same machine load
                bench.ceiling(clip, rnd, "before")
                for side in alternate(("peer", "ours"), rnd + ci):
                    bench.pipeline_run(side, clip, rnd)
                bench.ceiling(clip, rnd, "after")
    runs, ceilings = bench.runs, bench.ceilings

    summary = summarize(args.clips, runs, ceilings, pipeline_batch)
    print_report(summary, runs, pipeline_batch, args)
    if args.json:
        raw = {
            "args": {k: v for k, v in vars(args).items() if k != "worker"},
            "onnx": str(onnx),
            "cpu_count": os.cpu_count(),
            "pipeline_batch": pipeline_batch,
            "timing_rule": "fps = (frames-1)/(t_end - t_first_departure); load and first frame excluded",
            "summary": summary,
            "runs": runs,
            "ceilings": ceilings,
        }
        Path(args.json).write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
        log(f"raw numbers saved to {args.json}")
    return 0


def reprint(path: Path) -> int:
    raw = json.loads(path.read_text(encoding="utf-8"))
    saved = argparse.Namespace(**raw["args"])
    batch = saved.batch or raw.get("pipeline_batch") or 4
    rows = summarize(saved.clips, raw["runs"], raw["ceilings"], batch)
    print_report(rows, raw["runs"], batch, saved)
    return 0


def summarize(
    clips: list[str], runs: list[dict[str, Any]], ceilings: list[dict[str, Any]], pipeline_batch: int
) -> list[dict[str, Any]]:
    rows = []
    for clip in clips:
        peer = [r for r in runs if r["clip"] == clip and r["side"] == "ultralytics"]
        ours = [r for r in runs if r["clip"] == clip and r["side"] == "streamseg"]
        ceil = [c for c in ceilings if c["clip"] == clip]
        peer_fps, ours_fps = median([r["fps"] for r in peer]), median([r["fps"] for r in ours])
        to_peer = ratio(ours_fps, peer_fps)
        ceil_b, ceil_1 = ceiling_fps(ceil, pipeline_batch), ceiling_fps(ceil, 1)
        stage_names = list(ours[0]["stage_p50_ms"]) if ours else []
        rows.append(
            {
                "clip": Path(clip).name,
                "frames": ours[0]["frames"] if ours else (peer[0]["frames"] if peer else 0),
                "peer_fps": peer_fps,
                "ours_fps": ours_fps,
                "ratio": None if to_peer is None else round(to_peer, 2),
                "ceiling_fps": ceil_b,
                "ceiling_b1_fps": ceil_1,
                "ceiling_best_fps": ceiling_fps(ceil, pipeline_batch, best=True),
                "pct_of_ceiling": round(100 * ours_fps / ceil_b, 1) if ours_fps and ceil_b else None,
                "peer_instances": median([r["instances_per_frame"] for r in peer]),
                "ours_instances": median([r["instances_per_frame"] for r in ours]),
                "ours_mean_batch": median([(r.get("batch") or {}).get("mean_size") for r in ours]),
                "ours_stage_p50_ms": {
                    s: median([r["stage_p50_ms"].get(s) for r in ours]) for s in stage_names
                },
                "peer_stage_p50_ms": {
                    s: median([r.get("stage_p50_ms", {}).get(s) for r in peer])
                    for s in (peer[0].get("stage_p50_ms", {}) if peer else {})
                },
            }
        )
    return rows


def print_report(
    rows: list[dict[str, Any]], runs: list[dict[str, Any]], pipeline_batch: int, args: Any
) -> None:
    n = args.repeat
    columns = [
        Column("clip", 30, "<"),
        Column("frames", 6),
        Column("peer FPS", 9),
        Column("ours FPS", 9),
        Column("ours/peer", 9),
        Column(f"ORT b{pipeline_batch} FPS", 11),
        Column("% ceiling", 9),
    ]
    print()
    print(f"streamseg vs Ultralytics, imgsz {args.imgsz}, conf {args.conf}, median of {n} run(s) per side")
    table = [
        [
            r["clip"],
            r["frames"],
            fmt(r["peer_fps"]),
            fmt(r["ours_fps"]),
            fmt(r["ratio"] or None, ".2f", "x"),
            fmt(r["ceiling_fps"]),
            fmt(r["pct_of_ceiling"] or None, ".1f", "%"),
        ]
        for r in rows
    ]
    print_table(columns, table, rule=True)
    print()
    for r in rows:
        stages = "  ".join(f"{k} {fmt(v, '.1f')}" for k, v in r["ours_stage_p50_ms"].items())
        peer_stages = "  ".join(f"{k} {fmt(v, '.1f')}" for k, v in r["peer_stage_p50_ms"].items())
        print(f"{r['clip']}: ours stage p50 ms: {stages}")
        print(f"{'':>{len(r['clip'])}}  peer stage p50 ms: {peer_stages}")
        print(
            f"{'':>{len(r['clip'])}}  ORT ceiling: b1 {fmt(r['ceiling_b1_fps'])} FPS, "
            f"b{pipeline_batch} fastest call {fmt(r['ceiling_best_fps'])} FPS; ours mean batch "
            f"{fmt(r['ours_mean_batch'])}; instances/frame peer {fmt(r['peer_instances'], '.1f')} "
            f"ours {fmt(r['ours_instances'], '.1f')}"
        )
    loads = [r["loadavg_before"] for r in runs if r.get("loadavg_before") is not None]
    loads += [r["loadavg_after"] for r in runs if r.get("loadavg_after") is not None]
    cpus = os.cpu_count()
    if loads:
        print(f"\nload average during runs: {min(loads):.2f}-{max(loads):.2f} on {cpus} CPU(s)")
    over = [r["clip"] for r in rows if (r["pct_of_ceiling"] or 0) > 100]
    if over:
        print(
            f"WARNING: pipeline above its ceiling for {', '.join(over)}: the machine was busier while the\n"
            "ceiling was measured than during the pipeline run. Those % are meaningless; rerun with\n"
            "--repeat 3 or on a quieter machine."
        )
    print(
        "FPS = (frames-1)/(first annotated frame written -> output file finalized); model load excluded.\n"
        "Peer writes mp4v via cv2.VideoWriter, ours H.264 via PyAV.\n"
        "Absolute FPS on a shared machine is noisy: quote the ratios (ours/peer, % of ceiling)."
    )


if __name__ == "__main__":
    sys.exit(main())
