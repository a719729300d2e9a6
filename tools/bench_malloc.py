"""What a malloc setting costs: ``streamseg run CLIP --record`` with two environments, alternating.

    python -m tools.bench_malloc --rounds 4
    python -m tools.bench_malloc --a MALLOC_ARENA_MAX=2 --b MALLOC_ARENA_MAX=1 --clip street.mp4

Each round runs the CLI once per environment (order alternating by round) on the same clip and model,
recording H.264, and times the whole command (model load included, identical on both sides). Prints
each run, the median wall time per side and the ratio b/a. ``streamseg run`` itself caps the arenas at
one unless ``MALLOC_ARENA_MAX`` is set, so ``--a MALLOC_ARENA_MAX=2`` is the old default.
It measures our own pipeline against itself; ``tools.bench_vs_ultralytics`` is the comparison with the peer.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from tools.common import ENGINES_DIR, FIXTURE_PT, STREET_CLIP, Arms, child_env, fmt, load_average, run_cli


def run_once(env_pair: str, clip: str, model: str, engines: str, out: Path) -> float:
    key, _, value = env_pair.partition("=")
    started = time.perf_counter()
    run_cli(
        *("run", clip, "--model", model, "--engines-dir", engines, "--record", str(out), "-q"),
        env=child_env(**{key: value}),
    )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--a", default="MALLOC_ARENA_MAX=2", help="environment of side a (KEY=VALUE)")
    parser.add_argument("--b", default="MALLOC_ARENA_MAX=1", help="environment of side b (KEY=VALUE)")
    parser.add_argument("--clip", default=str(STREET_CLIP))
    parser.add_argument("--model", default=str(FIXTURE_PT))
    parser.add_argument("--engines-dir", default=str(ENGINES_DIR))
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    times: Arms[str] = Arms(args.a, args.b)
    with tempfile.TemporaryDirectory() as tmp:
        run_once(args.a, args.clip, args.model, args.engines_dir, Path(tmp) / "warm.mp4")  # export cache
        for r in range(args.rounds):
            for side in times.order(r):
                seconds = run_once(side, args.clip, args.model, args.engines_dir, Path(tmp) / "out.mp4")
                times.add(side, seconds)
                print(f"round {r + 1}: {side:24s} {seconds:6.2f} s", flush=True)
    med_a, med_b, b_to_a = times.median(args.a), times.median(args.b), times.ratio(args.b, args.a)
    print(f"median {args.a}: {med_a:.2f} s, {args.b}: {med_b:.2f} s, ratio b/a {b_to_a:.3f}")
    print(f"load average after: {fmt(load_average())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
