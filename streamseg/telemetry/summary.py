"""``summary_table``: the fixed-width end-of-run report built from one snapshot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def summary_table(snapshot: Mapping[str, Any]) -> str:
    """Per-source frames/drops/fps, per-stage latency percentiles, batch fill and memory, as text.

    Frame rates are whole-run averages (``avg_fps``): at the end of a run the sliding-window rate
    only describes the last couple of seconds.
    """
    lines = [f"streamseg run summary ({float(snapshot.get('uptime_s', 0.0)):.1f} s)"]

    sources: Mapping[str, Any] = snapshot.get("sources", {})
    total: Mapping[str, Any] = snapshot.get("total", {})
    width = max([6, *(len(name) for name in sources)])
    header = f"{'source':<{width}}  {'captured':>9}  {'processed':>9}  {'dropped':>8}  {'fps':>8}"
    live = any("health" in src for src in sources.values())
    if live:  # cameras and streams: their final health and how often they came back
        header += f"  {'health':<12}  {'reconnects':>10}"
    lines += ["", header, "-" * len(header)]
    for name, src in sources.items():
        row = _source_row(name, src, width)
        if live:
            row += f"  {src.get('health', '-')!s:<12}  {int(src.get('reconnects', 0)):>10d}"
        lines.append(row)
    if len(sources) != 1 and total:
        lines.append(_source_row("total", total, width))

    stages: Mapping[str, Any] = snapshot.get("stages", {})
    if stages:
        swidth = max([5, *(len(name) for name in stages)])
        header = (
            f"{'stage':<{swidth}}  {'p50 ms':>9}  {'p99 ms':>9}  {'mean ms':>9}  {'max ms':>9}  {'count':>8}"
        )
        lines += ["", header, "-" * len(header)]
        for name, st in stages.items():
            lines.append(
                f"{name:<{swidth}}  {st.get('p50_ms', 0.0):>9.2f}  {st.get('p99_ms', 0.0):>9.2f}  "
                f"{st.get('mean_ms', 0.0):>9.2f}  {st.get('max_ms', 0.0):>9.2f}  {st.get('count', 0):>8d}"
            )

    lines.append("")
    batch = snapshot.get("batch")
    if batch:
        lines.append(f"batches: {batch['batches']}, mean size {batch['mean_size']:.2f}")
    memory = []
    if "rss_bytes" in snapshot:
        memory.append(f"RSS {_mib(snapshot['rss_bytes'])}")
    if "rss_peak_bytes" in snapshot:
        memory.append(f"RSS peak {_mib(snapshot['rss_peak_bytes'])}")
    if "gpu_memory_bytes" in snapshot:
        memory.append(f"GPU {_mib(snapshot['gpu_memory_bytes'])}")
    growth = {k: v for k, v in (snapshot.get("memory_growth_bytes_per_hour") or {}).items() if v is not None}
    if growth:
        rates = ", ".join(f"{k.upper()} {v / 2**20:+.1f} MiB/h" for k, v in growth.items())
        memory.append(f"growing {rates}")
    if memory:
        lines.append("memory: " + ", ".join(memory))
    degradation = snapshot.get("degradation")
    if degradation:
        lines.append(_degradation_line(degradation))
    return "\n".join(lines).rstrip() + "\n"


def _degradation_line(d: Mapping[str, Any]) -> str:
    """Where the latency ladder ended, how deep it went, and what striding left out."""
    skipped = sum(int(n) for n in (d.get("skipped") or {}).values())
    return (
        f"latency budget {float(d['budget_ms']):.0f} ms: rung {d['level']} of {d['levels']} at the end "
        f"({d['rung']}); deepest {d['deepest']}, {d['steps_down']} steps down, {d['steps_up']} up; "
        f"{skipped} frames left out by striding"
    )


def _source_row(name: str, src: Mapping[str, Any], width: int) -> str:
    return (
        f"{name:<{width}}  {int(src.get('captured', 0)):>9d}  {int(src.get('processed', 0)):>9d}  "
        f"{int(src.get('dropped', 0)):>8d}  {float(src.get('avg_fps', 0.0)):>8.2f}"
    )


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"
