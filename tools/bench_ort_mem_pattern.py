"""ONNX Runtime's memory pattern: what it costs in memory for a pipeline whose batch size varies, and
what turning it off costs in speed. Both sessions live in one process and are called alternately.

    python -m tools.bench_ort_mem_pattern [--model X.onnx] [--rounds 15]

With the pattern on, ORT plans a new memory layout for every input shape it meets and touches fresh
memory for it the second time that shape runs; with live cameras the batch size changes whenever one
reconnects, so RSS steps up by several MiB per new batch size, long into a run. Prints the RSS each
session adds over a sequence of batch sizes (each in a fresh subprocess), then median latencies and the
ratio off/on for a few shapes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

import numpy as np

from tools.common import ENGINES_DIR, FIXTURE_PT, Arms, child_env, tool_command

BATCHES = [4] * 5 + [3] * 3 + [2] * 3 + [1] * 3 + [4, 3, 1, 2] * 4  # as cameras drop out and return


def session(model: str, pattern: bool) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.enable_mem_pattern = pattern
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def memory_child(model: str, pattern: bool, hw: tuple[int, int]) -> dict[str, float]:
    """RSS (anonymous) after the first five batch-4 calls and at the end of ``BATCHES``."""
    from streamseg.util.allocator import limit_malloc_arenas
    from tools.memory_breakdown import memory_breakdown

    limit_malloc_arenas()
    sess = session(model, pattern)
    name = sess.get_inputs()[0].name
    inputs = {n: np.random.rand(n, 3, *hw).astype(np.float32) for n in set(BATCHES)}
    anon = []
    for n in BATCHES:
        sess.run(None, {name: inputs[n]})
        anon.append(memory_breakdown()["rss_anon"] / 2**20)
    return {"after_batch4": anon[4], "end": anon[-1]}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help="an .onnx (default: the fixture, exported once)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "PATTERN", "HxW"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        h, w = (int(v) for v in args.child[2].split("x"))
        print(json.dumps(memory_child(args.child[0], args.child[1] == "on", (h, w))))
        return 0
    model = args.model
    if model is None:
        from streamseg.inference.model_files import resolve_model

        model = str(resolve_model(str(FIXTURE_PT), ENGINES_DIR))
    print(f"memory, batch sizes {BATCHES[:5]}... then 3, 2, 1 and a mix (input 256x320):")
    for pattern in ("on", "off"):
        out = subprocess.run(
            tool_command("bench_ort_mem_pattern", "--child", model, pattern, "256x320"),
            env=child_env(),
            check=True,
            capture_output=True,
            text=True,
        )
        m = json.loads(out.stdout)
        first, end = m["after_batch4"], m["end"]
        print(f"  pattern {pattern}: RSS {first:.1f} MiB after batch 4, {end:.1f} MiB at the end", end="")
        print(f" (+{end - first:.1f} MiB from the other batch sizes)")
    sessions = {"on": session(model, True), "off": session(model, False)}
    name = sessions["on"].get_inputs()[0].name
    print("speed (median of alternating calls):")
    for shape in ((4, 3, 256, 320), (4, 3, 384, 640), (1, 3, 384, 640)):
        x = np.random.rand(*shape).astype(np.float32)
        times = Arms("off", "on")  # "off" first in even rounds
        for s in sessions.values():
            for _ in range(3):
                s.run(None, {name: x})
        for r in range(args.rounds):
            for key in times.order(r):
                started = time.perf_counter()
                sessions[key].run(None, {name: x})
                times.add(key, time.perf_counter() - started)
        on, off, off_to_on = times.median("on"), times.median("off"), times.ratio("off", "on")
        print(f"  input {shape}: on {on * 1e3:.1f} ms, off {off * 1e3:.1f} ms, off/on {off_to_on:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
