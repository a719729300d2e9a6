"""What running through the cluster costs: N cameras in one plain ``streamseg run`` vs the same N
cameras placed by ``streamseg cluster up`` on a Ray cluster on this same machine, in the same run.

    python -m tools.bench_cluster                       # 4 looped street clips, 5 rounds each way
    python -m tools.bench_cluster --cameras 8 --per-group 4 --rounds 5 --record

Both arms read one YAML config (the cameras are file sources played in a loop, so throughput is bound
by the machine, not by the cameras; same model, imgsz, batch and threads). Plain: ``streamseg run
--config`` in a subprocess with a telemetry file. Cluster: a Ray head and one worker node holding all
of this machine's CPUs (``ray.cluster_utils``), then the real ``streamseg cluster up`` CLI; by default
all cameras in one group, so the two arms batch alike and the difference is what Ray, the group actor
and the controller's probing cost. Throughput is frames processed (all cameras) per second over the
same window after the same warm-up, read from the telemetry snapshots (plain) or from ``cluster status``
with each group's own snapshot time (cluster). Arms alternate (plain, cluster, plain ...); Ray is shut
down during plain rounds. Prints every round, the medians and the ratio cluster / plain (target >= 0.9).

On a shared machine wall-clock throughput swings with the neighbours' load, so each round also counts
the CPU time all processes of its arm spent in the window (plain: the ``streamseg run`` process;
cluster: every process of the Ray cluster, i.e. GCS, raylets, idle workers, the controller and the
group, all descendants of this script) and reports frames per CPU-second: for a CPU-bound pipeline
that is what decides throughput, and it moves less with outside load (but still some: ONNX Runtime's
threads spin while they wait for a core). Both are quoted as ratios of medians, and as the median of
per-round ratios (each cluster round against the plain round just before it).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

from tools.common import (
    ENGINES_DIR,
    FIXTURE_PT,
    STREET_CLIP,
    Arms,
    child_env,
    cli_command,
    fmt,
    load_average,
    run_cli,
)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--clip", default=str(STREET_CLIP), help="played by every camera, in a loop")
    parser.add_argument("--per-group", type=int, default=0, help="cameras per group (default: all in one)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each arm")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of frames before the window")
    parser.add_argument("--window", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--model", default=str(FIXTURE_PT), help=".onnx, or -seg .pt (exported once)")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--record", action="store_true", help="record every camera in both arms")
    parser.add_argument("--engines-dir", default=str(ENGINES_DIR))
    parser.add_argument(
        "--plain-nice",
        type=int,
        default=0,
        help="run the plain arm at this niceness (Ray runs workers at 15)",
    )
    args = parser.parse_args()

    from streamseg.inference.model_files import resolve_model

    model = resolve_model(args.model, Path(args.engines_dir))
    per_group = args.per_group or args.cameras
    fps, per_cpu = Arms("plain", "cluster"), Arms("plain", "cluster")  # frames/s, frames per CPU-second
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            work = Path(tmp) / str(i)
            work.mkdir()
            config = write_config(work, args, model, per_group)
            plain = plain_fps(config, work, args.warmup, args.window, args.plain_nice)
            fps.add("plain", plain[0])
            per_cpu.add("plain", plain[1])
            report(i, "plain", plain)
            cluster = cluster_fps(config, args.warmup, args.window)
            fps.add("cluster", cluster[0])
            per_cpu.add("cluster", cluster[1])
            report(i, "cluster", cluster)
    p, c = fps.median("plain"), fps.median("cluster")
    p_cpu, c_cpu = per_cpu.median("plain"), per_cpu.median("cluster")
    groups = -(-args.cameras // per_group)
    print()
    print(
        f"{args.cameras} cameras ({Path(args.clip).name}, imgsz {args.imgsz}, record {args.record}), "
        f"{groups} group(s) in the cluster, {os.cpu_count()} CPUs, {args.rounds} rounds each"
    )
    print(
        f"median frames/s:            plain {p:6.2f}, cluster {c:6.2f}; "
        f"cluster / plain = {fps.ratio('cluster', 'plain'):.3f}"
    )
    ratio = per_cpu.ratio("cluster", "plain")
    print(
        f"median frames per CPU-s:    plain {p_cpu:6.2f}, cluster {c_cpu:6.2f}; cluster / plain = {ratio:.3f}"
    )
    # Each cluster round against the plain round just before it: neighbours' load drifts less in between.
    paired = statistics.median(cr / pr for pr, cr in zip(fps["plain"], fps["cluster"], strict=True))
    paired_cpu = statistics.median(
        cr / pr for pr, cr in zip(per_cpu["plain"], per_cpu["cluster"], strict=True)
    )
    print(f"median of per-round ratios: frames/s {paired:.3f}, frames per CPU-s {paired_cpu:.3f}")
    return 0


def report(i: int, arm: str, result: tuple[float, float]) -> None:
    fps, per_cpu = result
    print(
        f"round {i + 1}: {arm:<7} {fps:6.2f} frames/s  {per_cpu:6.2f} frames per CPU-s  "
        f"(load {fmt(load_average(), '.1f')})",
        flush=True,
    )


class CpuMeter:
    """CPU seconds (user + system) spent by a set of processes between ``start()`` and ``stop()``.

    A process that appears in between counts from zero; one that exits in between is lost (none of
    either arm's processes should exit inside the window)."""

    def __init__(self, processes: Any) -> None:
        self._processes = processes  # () -> list[psutil.Process]
        self._before: dict[int, float] = {}

    @staticmethod
    def _cpu(proc: psutil.Process) -> float | None:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            return None
        return float(t.user + t.system)

    def start(self) -> None:
        self._before = {p.pid: c for p in self._processes() if (c := self._cpu(p)) is not None}

    def stop(self) -> float:
        total = 0.0
        for p in self._processes():
            now = self._cpu(p)
            if now is not None:
                total += now - self._before.get(p.pid, 0.0)
        return total


def descendants() -> list[psutil.Process]:
    return psutil.Process().children(recursive=True)


def write_config(work: Path, args: argparse.Namespace, model: Path, per_group: int) -> Path:
    data: dict[str, Any] = {
        "sources": [{"uri": args.clip, "name": f"cam{i}"} for i in range(args.cameras)],
        "model": {"path": str(model), "imgsz": args.imgsz, "engines_dir": args.engines_dir},
        "pipeline": {"loop": True},
        "cluster": {"cameras_per_group": per_group, "cpus_per_group": 1},
        "dashboard": {"listen": "127.0.0.1:0"},
    }
    if args.record:
        data["output"] = {"record": str(work / "rec" / "out.mp4")}
        (work / "rec").mkdir()
    path = work / "cams.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def plain_fps(config: Path, work: Path, warmup: float, window: float, nice: int) -> tuple[float, float]:
    telemetry = work / "telemetry.jsonl"
    cmd = cli_command("run", "--config", str(config), "--telemetry", str(telemetry), "-q")
    cmd = ["nice", "-n", str(nice), *cmd] if nice else cmd
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=child_env()
    )
    cpu = CpuMeter(lambda: [psutil.Process(proc.pid)])
    try:
        first = wait_for(lambda: snapshot_after(telemetry, None, 1), "first frames")
        start = wait_for(lambda: snapshot_after(telemetry, first["timestamp"] + warmup, 1), "warm-up")
        cpu.start()
        end = wait_for(lambda: snapshot_after(telemetry, start["timestamp"] + window, 1), "the window")
        cpu_s = cpu.stop()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    if proc.returncode not in (0, 130):
        raise SystemExit(f"streamseg run failed: {err[-1000:]}")
    frames = end["total"]["processed"] - start["total"]["processed"]
    return frames / (end["timestamp"] - start["timestamp"]), frames / cpu_s


def snapshot_after(path: Path, t: float | None, min_processed: int) -> dict[str, Any] | None:
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if not line.endswith("}"):
            continue
        snap: dict[str, Any] = json.loads(line)
        if snap["total"]["processed"] >= min_processed and (t is None or snap["timestamp"] >= t):
            return snap
    return None


def cluster_fps(config: Path, warmup: float, window: float) -> tuple[float, float]:
    from streamseg.cluster import client
    from streamseg.cluster.ray_support import connect
    from streamseg.testing.ray_cluster import RayCluster

    cluster = RayCluster.start(workers=1, worker_cpus=os.cpu_count() or 1)
    try:
        address = cluster.address
        up = run_cli("cluster", "up", str(config), "--address", address, check=False)
        if up.returncode != 0:
            raise SystemExit(f"cluster up failed: {up.stderr[-1000:]}")
        connect(address)
        first = wait_for(lambda: per_group(client.status(address), None), "first frames")
        after = min(t for t, _ in first.values()) + warmup
        start = wait_for(lambda: per_group(client.status(address), after), "warm-up")
        cpu = CpuMeter(descendants)
        cpu.start()
        after = max(t for t, _ in start.values()) + window
        end = wait_for(lambda: per_group(client.status(address), after), "the window")
        cpu_s = cpu.stop()
        run_cli("cluster", "down", "--address", address)
    finally:
        cluster.shutdown()
    # Each group is sampled at its own time: add up the groups' own rates.
    fps = sum((end[g][1] - start[g][1]) / (end[g][0] - start[g][0]) for g in start)
    frames = sum(end[g][1] - start[g][1] for g in start)
    return fps, frames / cpu_s


def per_group(status: dict[str, Any], t: float | None) -> dict[str, tuple[float, int]] | None:
    """Group -> (its snapshot time, frames processed by its cameras), once every group has one after ``t``."""
    out = {}
    for group in status["groups"]:
        processed = sum(c["processed"] for c in status["cameras"] if c["group"] == group["name"])
        at = group["sampled_at"]
        if at is None or processed == 0 or (t is not None and at < t):
            return None
        out[group["name"]] = (float(at), processed)
    return out or None


def wait_for(probe: Any, what: str, timeout: float = 600) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = probe()
        if got is not None:
            return got
        time.sleep(0.5)  # both arms are asked as often; the asking costs little
    raise SystemExit(f"timed out waiting for {what}")


if __name__ == "__main__":
    sys.exit(main())
