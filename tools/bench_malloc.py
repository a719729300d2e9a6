"""What a malloc setting costs: ``streamseg run CLIP --record`` with two environments, alternating.

    .venv/bin/python tools/bench_malloc.py --rounds 4
    .venv/bin/python tools/bench_malloc.py --a MALLOC_ARENA_MAX=2 --b MALLOC_ARENA_MAX=1 --clip street.mp4

Each round runs the CLI once per environment (order alternating by round) on the same clip and model,
recording H.264, and times the whole command (model load included, identical on both sides). Prints
each run, the median wall time per side and the ratio b/a. ``streamseg run`` itself caps the arenas at
one unless ``MALLOC_ARENA_MAX`` is set, so ``--a MALLOC_ARENA_MAX=2`` is the old default.
It measures our own pipeline against itself; ``bench_vs_ultralytics.py`` is the comparison with the peer.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO.parent / "shared" / "assets"


def run_once(env_pair: str, clip: str, model: str, engines: str, out: Path) -> float:
    key, _, value = env_pair.partition("=")
    env = {**os.environ, key: value}
    cmd = [sys.executable, "-m", "streamseg", "run", clip, "--model", model, "--engines-dir", engines]
    cmd += ["--record", str(out), "-q"]
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--a", default="MALLOC_ARENA_MAX=2", help="environment of side a (KEY=VALUE)")
    parser.add_argument("--b", default="MALLOC_ARENA_MAX=1", help="environment of side b (KEY=VALUE)")
    parser.add_argument("--clip", default=str(ASSETS / "videos" / "street_pedestrians_720p30.mp4"))
    parser.add_argument("--model", default=str(ASSETS / "models" / "yolov8n-seg-fixture.pt"))
    parser.add_argument("--engines-dir", default=str(REPO / "engines"))
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    times: dict[str, list[float]] = {args.a: [], args.b: []}
    with tempfile.TemporaryDirectory() as tmp:
        run_once(args.a, args.clip, args.model, args.engines_dir, Path(tmp) / "warm.mp4")  # export cache
        for r in range(args.rounds):
            for side in (args.a, args.b) if r % 2 == 0 else (args.b, args.a):
                seconds = run_once(side, args.clip, args.model, args.engines_dir, Path(tmp) / "out.mp4")
                times[side].append(seconds)
                print(f"round {r + 1}: {side:24s} {seconds:6.2f} s", flush=True)
    med_a, med_b = statistics.median(times[args.a]), statistics.median(times[args.b])
    print(f"median {args.a}: {med_a:.2f} s, {args.b}: {med_b:.2f} s, ratio b/a {med_b / med_a:.3f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
