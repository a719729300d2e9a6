"""Decode shedding under ``--latency-budget`` (issue 20, item 7): more 720p30 cameras than this machine
can decode, with the ladder as it was ("today": striding and smaller inputs only) and as it is now
(then non-reference frames left undecoded, then keyframes only), in the same run of this tool.

    python -m tools.bench_overload_decode                       # 6 cameras, one run each way
    python -m tools.bench_overload_decode --rounds 3 --settle-s 90 --measure-s 60 --json o.json

One GStreamer RTSP server (``tests/live/rtsp_server.py``, on this machine like the cameras of the issue)
serves ``--cameras`` mounts at ``--size`` and ``--fps`` (H.264 from x264 ultrafast without B-frames, a
keyframe about a second apart: every fps + i frames on mount i, so that, as with independent cameras,
the keyframes do not all arrive at once; ``--aligned-keyframes`` puts them in step, as the tests'
server does, the worst case for "keyframes only"). Each arm is a fresh process that runs exactly what ::

    streamseg run rtsp://.../cam0 ... --model M --latency-budget 500

runs (the same argument parsing into the same ``Config``, ``Pipeline.results(host_masks=False)`` read
as the command line reads it, malloc arenas capped as it does), "today" with ``--config`` holding
``latency: {shed_decoding: false}`` (every frame decoded and converted, the ladder ends at the last
stride), "shedding" with the defaults. The process stamps every result as it comes out, so after
``--settle-s`` (the ladder walks down one rung per 2-8 s) it reports over the next ``--measure-s``:

* **end-to-end p95**: frame age from capture to the result coming out, over every frame of the window,
  and the share of frames within the budget;
* **fps per camera**: results per second (slowest and fastest camera: none may starve);
* **ladder level**: at the end of the window, and the lowest and highest seen in it (each second);
* **CPU**: the pipeline process's CPU seconds per second, and the machine's load average (other jobs on
  a shared box move every figure; compare arms of the same round, and use ``--rounds``). ``--busy N``
  runs N busy loops beside, to stand in for a slower or busier box.

Arms alternate (today first in odd rounds). The last lines are the medians and the ratios
today / shedding for p95 (above 1: shedding holds frames for less time) and shedding / today for fps.
"""

from __future__ import annotations

import argparse
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

import numpy as np

from streamseg.testing.rtsp import RtspServer
from tools.common import ENGINES_DIR, FIXTURE_PT, child_env, tool_command

DEFAULT_MODEL = str(FIXTURE_PT)
ARMS = {"today": {"latency": {"shed_decoding": False}}, "shedding": {}}


def child(out: Path, settle_s: float, measure_s: float, argv: list[str]) -> int:
    """One arm: ``streamseg run ARGV`` as the command line runs it, every result stamped."""
    from streamseg import Pipeline
    from streamseg.cli import build_parser, config_from_args
    from streamseg.util.allocator import limit_malloc_arenas

    limit_malloc_arenas()
    cfg = config_from_args(build_parser().parse_args(["run", *argv]))
    pipeline = Pipeline(config=cfg)
    started = time.monotonic()
    window = (started + settle_s, started + settle_s + measure_s)
    threading.Timer(settle_s + measure_s + 30, pipeline.stop).start()  # results that never come
    rows: list[tuple[str, float]] = []
    levels: list[int] = []
    cpu: list[float] = []
    section: dict[str, Any] = {}
    next_poll = window[0]
    for result in pipeline.results(host_masks=False):
        now = time.monotonic()
        if now >= window[1]:
            break
        if now < window[0]:
            continue
        if not cpu:
            cpu.append(time.process_time())
        rows.append((result.source, now - result.frame.capture_time))
        if now >= next_poll:
            next_poll = now + 1.0
            section = pipeline.telemetry.snapshot().get("degradation") or {}
            levels.append(int(section.get("level", 0)))
    cpu.append(time.process_time())
    pipeline.stop()
    pipeline.join()
    out.write_text(json.dumps({"rows": rows, "levels": levels, "section": section, "cpu": cpu}))
    os._exit(0)  # capture threads may still sit in a network read; the figures are written


def run_arm(arm: str, urls: list[str], args: argparse.Namespace, work: Path) -> dict[str, Any]:
    config = work / f"{arm}.yaml"
    config.write_text(json.dumps(ARMS[arm]))  # JSON is YAML
    out = work / f"{arm}.json"
    argv = [*urls, "--config", str(config), "--model", args.model, "--engines-dir", args.engines_dir]
    argv += ["--imgsz", str(args.imgsz), "--latency-budget", str(args.budget)]
    cmd = tool_command("bench_overload_decode", "--child", str(out), "--settle-s", str(args.settle_s))
    cmd += ["--measure-s", str(args.measure_s), "--", *argv]
    load = [os.getloadavg()[0]]
    with (work / f"{arm}.log").open("w") as log:
        limit = args.settle_s + args.measure_s + 120
        code = subprocess.run(
            cmd, stdout=log, stderr=subprocess.STDOUT, check=False, timeout=limit, env=child_env()
        ).returncode
    load.append(os.getloadavg()[0])
    if code != 0 or not out.exists():
        raise RuntimeError(f"{arm}: exit code {code}: {(work / f'{arm}.log').read_text()[-2000:]}")
    got = json.loads(out.read_text())
    ages = np.array([age for _, age in got["rows"]])
    names = sorted({s for s, _ in got["rows"]})
    fps = {s: sum(1 for name, _ in got["rows"] if name == s) / args.measure_s for s in names}
    levels, section = got["levels"], got["section"]
    return {
        "arm": arm,
        "p95_s": float(np.percentile(ages, 95)) if len(ages) else float("nan"),
        "p50_s": float(np.percentile(ages, 50)) if len(ages) else float("nan"),
        "within_budget": float(np.mean(ages <= args.budget / 1e3)) if len(ages) else float("nan"),
        "frames": len(ages),
        "fps": fps,
        "level_end": levels[-1] if levels else None,
        "level_min": min(levels, default=None),
        "level_max": max(levels, default=None),
        "levels": section.get("levels"),
        "rung": section.get("rung"),
        "cpu": (got["cpu"][-1] - got["cpu"][0]) / args.measure_s,
        "load": sum(load) / 2,
    }


def show(row: dict[str, Any], budget_ms: float) -> None:
    fps = row["fps"]
    slow, fast = min(fps.values(), default=0.0), max(fps.values(), default=0.0)
    within = f"within {budget_ms:.0f} ms {row['within_budget']:6.1%}"
    ladder = f"ladder {row['level_end']}/{row['levels']} ({row['level_min']}-{row['level_max']})"
    print(
        f"{row['arm']:>9}  p95 {row['p95_s'] * 1e3:6.0f} ms (p50 {row['p50_s'] * 1e3:4.0f})  {within}"
        f"  frames {row['frames']:5d}"
        f"  fps/camera {slow:5.2f}..{fast:5.2f}  total {sum(fps.values()):5.1f}  {ladder}"
        f"  cpu {row['cpu']:4.2f}  load {row['load']:.1f}"
    )
    print(f"{'':>11}rung: {row['rung']}; " + ", ".join(f"{s} {v:.2f}" for s, v in fps.items()))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=6)
    parser.add_argument("--size", default="1280x720", help="camera frame size (default: 720p)")
    parser.add_argument("--fps", type=int, default=30, help="camera frame rate")
    parser.add_argument("--budget", type=float, default=500.0, help="--latency-budget in ms")
    parser.add_argument(
        "--aligned-keyframes",
        action="store_true",
        help="every mount's keyframe at the same moment (the tests' server); default: spread, as "
        "independent cameras' are (mount i: a keyframe every fps + i frames)",
    )
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="-seg .pt (exported once) or .onnx")
    parser.add_argument("--engines-dir", default=str(ENGINES_DIR))
    parser.add_argument("--settle-s", type=float, default=90.0, help="before measuring (the ladder walks)")
    parser.add_argument("--measure-s", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=1, help="each round runs both arms")
    parser.add_argument(
        "--busy", type=int, default=0, help="this many busy-loop processes beside (a slower or shared box)"
    )
    parser.add_argument("--json", metavar="OUT", help="keep every figure here")
    parser.add_argument("--child", metavar="OUT", help=argparse.SUPPRESS)  # one arm, in its own process
    parser.add_argument("argv", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(Path(args.child), args.settle_s, args.measure_s, args.argv)
    if args.cameras < 1 or args.rounds < 1 or args.measure_s < 5:
        parser.error("--cameras and --rounds must be >= 1, --measure-s >= 5")
    server = RtspServer(
        mounts=args.cameras, size=args.size, fps=args.fps, gop_spread=not args.aligned_keyframes
    )
    server.start()
    urls = [server.url(i) for i in range(args.cameras)]
    spin = [sys.executable, "-c", "while True: pass"]
    busy = [subprocess.Popen(spin) for _ in range(args.busy)]
    rows: list[dict[str, Any]] = []
    print(
        f"{args.cameras} cameras {args.size}@{args.fps} from one GStreamer server on this machine "
        f"({os.cpu_count()} CPUs), keyframes {'aligned' if args.aligned_keyframes else 'spread'}, "
        f"{args.busy} busy-loop processes beside, budget {args.budget:.0f} ms, imgsz {args.imgsz}, "
        f"settle {args.settle_s:.0f} s, measure {args.measure_s:.0f} s"
    )
    try:
        with tempfile.TemporaryDirectory(prefix="bench_overload_") as tmp:
            for r in range(args.rounds):
                order = list(ARMS) if r % 2 == 0 else list(reversed(ARMS))
                for arm in order:
                    row = run_arm(arm, urls, args, Path(tmp))
                    row["round"] = r + 1
                    rows.append(row)
                    show(row, args.budget)
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
        server.stop()
    med = {
        arm: {
            "p95_s": statistics.median(r["p95_s"] for r in rows if r["arm"] == arm),
            "min_fps": statistics.median(
                min(r["fps"].values(), default=0.0) for r in rows if r["arm"] == arm
            ),
            "total_fps": statistics.median(sum(r["fps"].values()) for r in rows if r["arm"] == arm),
            "within": statistics.median(r["within_budget"] for r in rows if r["arm"] == arm),
        }
        for arm in ARMS
    }
    today, new = med["today"], med["shedding"]
    print(
        f"medians: p95 today {today['p95_s'] * 1e3:.0f} ms, shedding {new['p95_s'] * 1e3:.0f} ms "
        f"(today/shedding {today['p95_s'] / new['p95_s']:.2f}x); within budget {today['within']:.1%} vs "
        f"{new['within']:.1%}; slowest camera {today['min_fps']:.2f} vs {new['min_fps']:.2f} fps; "
        f"total {today['total_fps']:.1f} vs {new['total_fps']:.1f} fps "
        f"(shedding/today {new['total_fps'] / today['total_fps']:.2f}x)"
    )
    verdict = new["p95_s"] <= args.budget / 1e3 and new["min_fps"] > 0
    print(f"shedding: p95 within {args.budget:.0f} ms and no camera starved: {'yes' if verdict else 'NO'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows, "medians": med}, indent=1))
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
