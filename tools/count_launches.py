"""Count what one batch of the GPU path launches, on CPU torch: the launch budget without a GPU.

The device path (``inference/yolo/device``) runs each batch as two graph bodies (on CUDA two graph
replays) plus glue. This drives it on CPU torch with the fixture model on the three shared 720p clips
(round-robin, one camera per batch position, frames imported as device surfaces), at fixed shapes as
a CUDA graph would run them, and counts torch ops with a ``TorchDispatchMode``
(``streamseg.testing.optrace``): per batch size, the kernel-launching ops inside each body, the ops
outside them (glue ops, replays, event records and downloads: what a GPU run pays in launches), the
host waits, and the host's own work after the wait (building instances, the layout, resolving).
Targets at batch 16 (issue 17): outside <= 48, exactly 1 wait, host work <= 0.5 ms. Usage::

    python -m tools.count_launches [--batches 1 4 16] [--imgsz 640] [--rounds 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from streamseg.config import RenderConfig
from streamseg.inference.yolo.device.batch import DeviceBatch, KeptTable
from streamseg.inference.yolo.device.layout import group_layout
from streamseg.inference.yolo.device.runner import DeviceRunner
from streamseg.inference.yolo.engine import PendingResult, SegmentationEngine
from streamseg.testing.device_batches import device_backend, device_engine, round_robin_surfaces, take
from streamseg.testing.optrace import OpTrace
from tools.common import Column, fmt, print_table

TARGET_OUTSIDE_PER_FRAME = 3  # ops outside the graphs per frame at batch 16 (48 per batch)
TARGET_HOST_MS = 0.5  # host work after the wait per batch of 16
COLUMNS = [
    Column(title, width)
    for title, width in (
        ("batch", 5), ("inst/frame", 10), ("detect body", 11), ("finish body", 11), ("outside", 7),
        ("per frame", 9), ("waits", 5), ("hazards", 7), ("host ms", 7), ("resolve ms", 10),
        ("quiet host ms", 13),
    )
]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--rounds", type=int, default=5, help="batches timed per size (median host times)")
    parser.add_argument("--json", type=Path, help="write the rows as JSON")
    args = parser.parse_args(argv)

    backend = device_backend()
    engine, runner = device_engine(backend, args.imgsz, overlay=RenderConfig())
    frames = round_robin_surfaces()
    rows, out = [], []
    for batch in args.batches:
        for _ in range(2):  # settle the capacities (a batch that outgrows them runs eagerly once)
            _resolve(engine.submit(take(frames, batch)))
        eager_before = runner.eager_batches
        host, resolve = [], []
        traced: OpTrace | None = None
        instances = 0
        for round_index in range(args.rounds):
            batch_frames = take(frames, batch)
            if round_index == 0:
                with OpTrace() as traced:
                    results = _resolve(engine.submit(batch_frames))
                instances = sum(len(r) for r, _, _ in results)
            else:
                results = _resolve(engine.submit(batch_frames))
            host.append(sum(runner.host_seconds.values()) * 1000)
            resolve.append(results[0][1] * 1000)
        assert traced is not None
        quiet = _quiet_host_ms(runner, results[0][2], engine)
        fitted = runner.eager_batches == eager_before
        row = {
            "batch": batch,
            "instances_per_frame": instances / batch,
            "ops_in_graphs": traced.launches("detect") + traced.launches("finish"),
            "ops_detect": traced.launches("detect"),
            "ops_finish": traced.launches("finish"),
            "ops_outside": traced.outside(),
            "syncs": len(traced.waits),
            "hazards": len(traced.hazards()),
            "host_ms": statistics.median(host),
            "resolve_ms": statistics.median(resolve),
            "quiet_host_ms": quiet,
            "fitted_graphs": fitted,
        }
        out.append(row)
        rows.append(
            [
                batch,
                fmt(row["instances_per_frame"], ".1f"),
                row["ops_detect"],
                row["ops_finish"],
                row["ops_outside"],
                fmt(row["ops_outside"] / batch, ".1f"),
                row["syncs"],
                row["hazards"],
                fmt(row["host_ms"], ".2f"),
                fmt(row["resolve_ms"], ".2f"),
                fmt(row["quiet_host_ms"], ".2f"),
            ]
        )
        for op in traced.hazards():
            print(f"  hazard in {op.body or 'glue'}: {op.hazard}", file=sys.stderr)
    print(
        f"imgsz {args.imgsz}, fixture model, overlay on, masks not downloaded; capacity now {runner.capacity}"
    )
    print_table(COLUMNS, rows, rule=True)
    print(
        "outside = glue ops + graph replays + event records and downloads (each a launch on a GPU); "
        "host ms = the inference thread's work after the wait (instances, layout) and resolve ms the "
        "render thread's (per-frame results), medians in the run, where torch's CPU threads compete; "
        "quiet host ms = both again on their own, as on a GPU machine."
    )
    last = out[-1]
    if last["batch"] == 16:
        ok = (
            last["ops_outside"] <= 16 * TARGET_OUTSIDE_PER_FRAME
            and last["syncs"] == 1
            and last["quiet_host_ms"] <= TARGET_HOST_MS
        )
        print(
            f"batch 16 targets (outside <= 48, 1 wait, quiet host <= {TARGET_HOST_MS} ms): "
            f"{'met' if ok else 'NOT met'}"
        )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


def _resolve(pending: list[object]) -> list[tuple[object, float, DeviceBatch]]:
    """Resolve a batch as the render thread does; with each result the batch's resolve time."""
    out = []
    for item in pending:
        assert isinstance(item, PendingResult)
        result, _ = item.resolve()
        out.append((result, item._batch.resolve_seconds, item._batch))
    return out


def _quiet_host_ms(
    runner: DeviceRunner, batch: DeviceBatch, engine: SegmentationEngine, runs: int = 200
) -> float:
    """The host steps of ``batch`` run again on their own (no torch threads competing for the CPU,
    caches warm, as on a GPU machine): the downloaded table unpacked into instances, the layout
    built and packed, the per-frame results resolved. Median over ``runs``, in ms."""
    inst, letterboxes = batch.instances, batch.letterboxes
    d = runner.spec.kept
    table = np.zeros((len(letterboxes), d * 7 + 3), np.float32)
    counts = np.bincount(inst.frame, minlength=len(letterboxes))
    body = table[:, : d * 7].reshape(len(letterboxes), d, 7)
    kept = np.arange(d)[None, :] < counts[:, None]
    body[kept] = np.column_stack([inst.xyxy, inst.score, inst.class_id, inst.anchor])
    table[:, d * 7], table[:, d * 7 + 2] = counts, 1
    lb, overlay = letterboxes[0], engine._overlay
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        instances = KeptTable.from_host(table, d).instances(letterboxes)
        layout = group_layout(instances, 0, len(letterboxes), lb.frame_hw, overlay)
        layout.table(runner.capacity.grown(layout.need), overlay)
        batch._resolved = None
        batch._resolve()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


if __name__ == "__main__":
    sys.exit(main())
