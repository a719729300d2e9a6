"""``bench_cameras``' tables: per camera count, each side's runs (held or why not, frames per second
per camera, p95 latency, recordings, CPU, the box); then CPU per camera against activity."""

from __future__ import annotations

from collections.abc import Sequence

from tools.cameras_figures import Run
from tools.cameras_streams import ACTIVITIES


def print_runs(runs: Sequence[Run], title: str) -> None:
    from tools.common import Column, fmt, print_table

    print(f"\n{title}", flush=True)
    columns = [
        Column("side", 11, "<"),
        Column("held", 4, "<"),
        Column("keeps up", 8),
        Column("fps/cam", 7),
        Column("infer/s", 7),
        Column("p95 ms", 6),
        Column("worst", 6),
        Column("rec %", 5),
        Column("CPU %", 6),
        Column("/cam", 5),
        Column("server", 6),
        Column("box", 4),
        Column("load", 4),
        Column("  why not", 9, "<"),
    ]
    rows = []
    for r in runs:
        cams = r.cameras
        keeps = min((c.processed_fps / c.need_fps for c in cams), default=None)
        rec = [c.recorded / c.sent for c in cams if c.sent and c.recorded is not None]
        worst = max((c.p95_s for c in cams if c.p95_s is not None), default=None)
        rows.append(
            [
                r.side,
                "yes" if r.held else "NO",
                fmt(None if keeps is None else 100 * keeps, ".0f", "%"),
                fmt(_mean([c.processed_fps for c in cams]), ".2f"),
                fmt(_mean([c.inferred_fps for c in cams]), ".2f"),
                fmt(None if r.p95_s is None else r.p95_s * 1e3, ".0f"),
                fmt(None if worst is None else worst * 1e3, ".0f"),
                fmt(100 * min(rec) if rec else None, ".0f"),
                fmt(r.cpu_pct, ".0f"),
                fmt(None if r.cpu_pct is None else r.cpu_pct / r.n, ".0f"),
                fmt(None if r.server_cpu_s is None else 100 * r.server_cpu_s / r.window_s, ".0f"),
                fmt(None if r.box_busy is None else 100 * r.box_busy, ".0f"),
                fmt(r.load, ".1f"),
                "  " + ("; ".join(r.reasons) or "-"),
            ]
        )
    print_table(columns, rows, rule=True)
    for r in runs:
        if r.stages_ms:
            shown = ", ".join(f"{k} {v:.1f}" for k, v in r.stages_ms.items())
            print(f"  {r.side} p50 ms per frame: {shown}")


def print_activity(runs: Sequence[Run]) -> None:
    from tools.common import Column, fmt, print_table

    print("\nCPU per camera against activity (one camera per run; % of one core over the window)")
    columns = [
        Column("activity", 8, "<"),
        Column("side", 11, "<"),
        Column("CPU %", 6),
        Column("fps", 6),
        Column("infer/s", 7),
        Column("still/s", 7),
        Column("p95 ms", 6),
        Column("box", 4),
        Column("  note", 6, "<"),
    ]
    rows = []
    for r in runs:
        cam = r.cameras[0] if r.cameras else None
        rows.append(
            [
                r.label,
                r.side,
                fmt(r.cpu_pct, ".0f"),
                fmt(cam.processed_fps if cam else None, ".2f"),
                fmt(cam.inferred_fps if cam else None, ".2f"),
                fmt(cam.still_fps if cam else None, ".2f"),
                fmt(None if r.p95_s is None else r.p95_s * 1e3, ".0f"),
                fmt(None if r.box_busy is None else 100 * r.box_busy, ".0f"),
                "  " + ("; ".join(r.reasons) or "-"),
            ]
        )
    print_table(columns, rows, rule=True)
    for side in ("streamseg", "ultralytics"):
        cpu = {r.label: r.cpu_pct for r in runs if r.side == side and r.cpu_pct}
        if all(a in cpu for a in ACTIVITIES):
            walking = cpu["walking"]
            print(
                f"{side}: a still camera costs {cpu['still'] / walking:.2f}x a walking one, a crowd "
                f"{cpu['crowd'] / walking:.2f}x; still cheaper than walking and crowd: "
                + ("yes" if cpu["still"] < min(walking, cpu["crowd"]) else "no")
            )


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None
