"""Many cameras on one small box: how many live 720p cameras streamseg holds with a detect rate and
motion gating, against Ultralytics as its users run several cameras, on the same cores, in one run.

    python -m tools.bench_cameras --peer-venv /work/peer/venv          # the whole search, both sides
    python -m tools.bench_cameras --peer-python .venv/bin/python --quick  # smoke test: 1-2 cameras, 10 s
    python -m tools.bench_cameras --no-peer --counts 4,6,8 --json c.json  # streamseg only, chosen N

CAMERAS. One GStreamer RTSP server on loopback (run by Debian's python3 with ``gi``, as
``streamseg.testing.rtsp`` runs its own) serves every camera. It does not encode: each camera is an
H.264 stream made once from the shared 720p clips (``street_pedestrians``, ``street_dance_crowd``,
``highway_cars``), re-encoded the way a camera sends them (x264, no B-frames, a keyframe every 2 s,
cached in ``.bench/cameras``) and looped forever at the clip's own rate. Camera k serves clip k mod 3;
the odd cameras serve a *still-period* variant of it, as a quiet street is: the clip's first frame held
for ``--still-hold`` s (20), then ``--still-play`` s (10) of the clip, looped. Each camera starts at its
own point of its loop (a keyframe), so the still periods of different cameras do not coincide; a
connection always starts there, so both sides see the same pictures.

STREAMSEG, per setup of N cameras: one process that runs what ::

    streamseg run rtsp://.../cam0 ... rtsp://.../camN-1 --detect-fps 5 --motion --record DIR/rec.mp4 \\
        --model MODEL --imgsz 640 --conf 0.25

runs (the CLI's own parsing into the same ``Config``, ``Pipeline.results(host_masks=False)`` read as
the CLI reads it, malloc arenas capped as it does); the process stamps every result as it comes out.

ULTRALYTICS, per setup of N cameras: N processes, one per camera, as its users run several cameras
(in the peer's own venv; ``tools/cameras_peer.py`` run by path, importing nothing from streamseg)::

    for r in YOLO(MODEL, task="segment").predict(source=rtsp_url, stream=True, vid_stride=K,
                                                 imgsz=640, conf=0.25, device="cpu"):
        writer.write(r.plot())                       # cv2.VideoWriter, fourcc mp4v

with K = round(camera fps / --detect-fps) (6 for 30 fps, 5 for 25), so it infers the same 5 frames a
second. MODEL is the one ONNX file streamseg exports from ``--model`` (``--peer-weights pt``: the .pt in
torch instead). OpenCV reads RTSP over TCP (``OPENCV_FFMPEG_CAPTURE_OPTIONS=rtsp_transport;tcp``, the
usual advice, and what streamseg uses). The peer records only the frames it infers: it has no way to
carry a result to the frames between, which is how its users get their video.

A SETUP HOLDS when, over ``--window`` s (60: two still-period loops, so every camera's still share is
the same on both sides) that start ``--warmup`` s (15) after the last camera's first result:

* no camera is starved: streamseg processes (infers, carries or skips as still) >= 95 % of each
  camera's frames per second; each Ultralytics process infers >= 95 % of its fps / K;
* every streamseg recording is complete: of the frames the camera sent during the window (the span
  of the stream timestamps of the results that came out in it, times the camera's rate: a frame that
  never came out counts as sent), >= 95 % are in the recording (decoded with PyAV after the run; its
  clock is the stream's, from the first frame that came out);
* p95 detection latency <= 1 s: over every frame the network saw in the window (all cameras), the
  time its result came out (drawn and handed to the recorder) minus its capture time (the moment it
  was decoded: ``Frame.capture_time`` in streamseg; in the peer, the moment OpenCV handed the frame to
  Ultralytics' reader thread, stamped by a ``cv2.VideoCapture`` subclass).

THE SEARCH. For N in ``--counts`` (1, 2, 3, 4, 6, 8, 12, 16, 24, 32) up to ``--max``, both sides in
turn (which goes first alternates with N); a side stops at its first N that does not hold
(``--retries R``: a failure is re-run R times and the setup holds if any run does, for a noisy box).
Each run is fresh processes and a fresh server. Per N a table: held or why not, processed and inferred
frames per second per camera, p95 latency (all cameras, and the worst camera's), recordings, CPU of
the side's process(es) in % of one core (and per camera), and how busy the whole box was. Last line:
``cameras held: streamseg N1, ultralytics N2, ratio N1/N2 (target >= 4)``.

ACTIVITY. Then one camera at a time, each side: a still street (street_pedestrians' first frame held
for good), people walking (street_pedestrians), a crowd (street_dance_crowd): CPU per camera, frames
the network saw, the still share. With motion gating, streamseg's cost should follow the activity;
the peer's does not (it infers every K-th frame whatever happens).

Noise: a shared machine moves every figure (the box's busy % and load average are printed beside
each run). The camera server runs on the same cores (it sends, never encodes: its CPU is shown).
Exit code 0 when the measurement ran (whatever it found), 1 on a setup error.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

# Module-level imports are the standard library and these modules only, whose own module-level imports
# are the standard library: the worker modes import what they need.
from tools import cameras_peer, cameras_server
from tools.cameras_figures import Run, Setup, vid_stride
from tools.cameras_report import print_activity, print_runs
from tools.cameras_run import run_side
from tools.cameras_streams import ACTIVITIES, activity_mounts, prepare_cycles, search_mount
from tools.cameras_worker import streamseg_worker

DEFAULT_COUNTS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from tools.common import ENGINES_DIR, FIXTURE_PT, PEER_VENV

    p = argparse.ArgumentParser(
        prog="python -m tools.bench_cameras",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model", default=str(FIXTURE_PT), help="-seg .pt or .onnx (default: the fixture network)"
    )
    p.add_argument("--engines-dir", default=str(ENGINES_DIR), help="streamseg's export cache")
    p.add_argument("--imgsz", type=int, default=640, help="network input, both sides (default 640)")
    p.add_argument("--conf", type=float, default=0.25, help="confidence threshold, both sides")
    p.add_argument("--detect-fps", type=float, default=5.0, help="frames a second the network sees (5)")
    p.add_argument(
        "--counts",
        help=f"camera counts to try (default: {','.join(map(str, DEFAULT_COUNTS))}; --quick: 1,2)",
    )
    p.add_argument("--max", type=int, default=32, help="no more cameras than this (default 32)")
    p.add_argument("--retries", type=int, default=0, help="re-run a setup that does not hold R times (0)")
    p.add_argument("--warmup", type=float, help="seconds after the last first result (15; --quick: 3)")
    p.add_argument("--window", type=float, help="seconds measured per run (60; --quick: 10)")
    p.add_argument("--start-timeout", type=float, default=120.0, help="s for a setup to start (+10/camera)")
    p.add_argument("--still-hold", type=float, default=20.0, help="still-period variants: frame held (s)")
    p.add_argument("--still-play", type=float, default=10.0, help="still-period variants: then played (s)")
    p.add_argument(
        "--quick", action="store_true", help="smoke test: 1-2 cameras, 3 s warm-up, 10 s windows (flags win)"
    )
    p.add_argument("--search", action=argparse.BooleanOptionalAction, default=True, help="the N search")
    p.add_argument(
        "--activity", action=argparse.BooleanOptionalAction, default=True, help="the activity table"
    )
    peer = p.add_argument_group("the peer (Ultralytics)")
    peer.add_argument("--peer-venv", default=str(PEER_VENV), help="Ultralytics venv, made if missing")
    peer.add_argument("--peer-python", help="a python with ultralytics, onnxruntime, cv2 (skips --peer-venv)")
    peer.add_argument(
        "--peer-weights",
        choices=("onnx", "pt"),
        default="onnx",
        help="the ONNX file (default) or the .pt in torch",
    )
    peer.add_argument("--no-peer", action="store_true", help="streamseg only")
    p.add_argument("--extra", default="", help="more `streamseg run` arguments, quoted (e.g. '--batch 8')")
    p.add_argument("--json", metavar="OUT", help="write every figure here")
    p.add_argument("--keep", metavar="DIR", help="keep the work folder (logs, recordings) in DIR")
    return p.parse_args(argv)


def _worker_args(argv: Sequence[str]) -> argparse.Namespace | None:
    """The worker modes, parsed without importing anything beyond the standard library."""
    p = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for flag in ("--serve", "--streamseg-worker", "--peer-worker", "--camera", "--source", "--model"):
        p.add_argument(flag)
    p.add_argument("--limit-s", type=float, default=600.0)
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--conf", type=float, default=0.25)
    p.add_argument("--vid-stride", type=int, default=1)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("argv", nargs="*")
    a, _ = p.parse_known_args(argv)
    return a if a.serve or a.streamseg_worker or a.peer_worker else None


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    worker = _worker_args(raw)
    if worker is not None:
        if worker.serve:
            return cameras_server.main(raw)
        if worker.streamseg_worker:
            return streamseg_worker(Path(worker.streamseg_worker), worker.limit_s, worker.argv)
        return cameras_peer.main(raw)
    return bench(parse_args(raw))


def bench(args: argparse.Namespace) -> int:
    from streamseg.inference.model_files import resolve_model
    from streamseg.testing.assets import VIDEOS
    from streamseg.testing.rtsp import gst_rtsp_available
    from tools.common import REPO, ensure_peer_venv, load_average

    quick = {"counts": "1,2", "warmup": 3.0, "window": 10.0}
    full = {"counts": ",".join(map(str, DEFAULT_COUNTS)), "warmup": 15.0, "window": 60.0}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    counts = sorted({int(c) for c in args.counts.split(",") if c.strip()})
    counts = [c for c in counts if 1 <= c <= args.max]
    if not counts or args.window < 5 or args.detect_fps <= 0:
        raise SystemExit("bench_cameras: need a count >= 1 (and <= --max), --window >= 5, --detect-fps > 0")
    why = gst_rtsp_available()
    if why:
        raise SystemExit(f"bench_cameras: the GStreamer RTSP server cannot run here: {why}")
    if Path(args.model).exists():
        args.model = str(Path(args.model).resolve())  # the workers run in other folders
    args.engines_dir = str(Path(args.engines_dir).resolve())
    onnx = str(resolve_model(args.model, Path(args.engines_dir)).resolve())
    peer_python = None
    if not args.no_peer:
        # abspath, not resolve: a venv's python is a symlink that must stay one
        peer_python = os.path.abspath(args.peer_python or ensure_peer_venv(Path(args.peer_venv)))
    peer_model = args.model if args.peer_weights == "pt" else onnx
    if args.peer_weights == "pt" and not args.model.endswith(".pt"):
        raise SystemExit("bench_cameras: --peer-weights pt needs a .pt --model")
    cycles = prepare_cycles(VIDEOS, REPO / ".bench" / "cameras", args.still_hold, args.still_play)
    keep = Path(args.keep) if args.keep else None
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
    root = keep or Path(tempfile.mkdtemp(prefix="bench_cameras_"))
    setup = Setup(
        model=args.model,
        peer_model=peer_model,
        imgsz=args.imgsz,
        conf=args.conf,
        detect_fps=args.detect_fps,
        engines_dir=args.engines_dir,
        warmup_s=args.warmup,
        window_s=args.window,
        start_timeout_s=args.start_timeout,
        peer_python=peer_python,
        work=root,
        extra=shlex.split(args.extra),
        keep=keep is not None,
    )
    sides = ["streamseg"] if args.no_peer else ["streamseg", "ultralytics"]
    print(
        f"bench_cameras: {os.cpu_count()} CPUs, load {load_average() or 0:.1f}; model {Path(onnx).name} "
        f"(peer: {Path(peer_model).name}), imgsz {args.imgsz}, conf {args.conf:g}, detect "
        f"{args.detect_fps:g}/s (peer vid_stride: 30 fps -> {vid_stride(30, args.detect_fps)}, "
        f"25 fps -> {vid_stride(25, args.detect_fps)}); warm-up {args.warmup:g} s, window {args.window:g} s",
        flush=True,
    )
    print(
        "cameras: 720p RTSP from one GStreamer server on this machine; camera k plays "
        + ", ".join(f"{search_mount(k, cycles).cycle.name}" for k in range(6))
        + " for k = 0..5, then again",
        flush=True,
    )
    if peer_python:
        print(f"peer: {peer_python}; it records only the frames it infers (no carry)", flush=True)
    report: dict[str, Any] = {"args": vars(args), "search": [], "activity": []}
    held: dict[str, int] = dict.fromkeys(sides, 0)
    failed: set[str] = set()
    if args.search:
        for i, n in enumerate(counts):
            todo = [s for s in sides if s not in failed]
            if not todo:
                break
            mounts = [search_mount(k, cycles) for k in range(n)]
            runs = []
            for side in todo if i % 2 == 0 else list(reversed(todo)):
                for attempt in range(args.retries + 1):
                    run = run_side(side, mounts, setup, f"n{n}-{attempt + 1}", args.window)
                    runs.append(run)
                    report["search"].append(_as_json(run))
                    if run.held:
                        break
                if run.held:
                    held[side] = n
                else:
                    failed.add(side)
            still = sum(m.still_periods for m in mounts)
            print_runs(runs, f"== {n} camera{'s' * (n > 1)} ({still} with still periods)")
    if args.activity:
        mounts_by = activity_mounts(cycles)
        runs = []
        for i, activity in enumerate(ACTIVITIES):
            for side in sides if i % 2 == 0 else list(reversed(sides)):
                run = run_side(side, [mounts_by[activity]], setup, activity, args.window)
                runs.append(run)
                report["activity"].append(_as_json(run))
        runs.sort(key=lambda r: (ACTIVITIES.index(r.label), r.side))
        print_activity(runs)
    if args.search:
        print()
        for side in sides:
            if side not in failed:
                print(f"{side}: held every count tried (up to {counts[-1]}): it may hold more")
        n1, n2 = held["streamseg"], held.get("ultralytics")
        if n2 is None:
            print(f"cameras held: streamseg {n1}, ultralytics - (--no-peer)")
        else:
            ratio = f"{n1 / n2:.2f}" if n2 else ("inf" if n1 else "-")
            print(f"cameras held: streamseg {n1}, ultralytics {n2}, ratio N1/N2 {ratio} (target >= 4)")
        report["held"] = held
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    if keep is None:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"logs and recordings kept in {keep}")
    return 0


def _as_json(run: Run) -> dict[str, Any]:
    out = asdict(run)
    out["held"] = run.held
    return out


if __name__ == "__main__":
    sys.exit(main())
