"""How long a camera whose node dies takes to be live again on another node: with streamseg's
documented health-check settings (``FAST_HEALTH_CHECK``) and with Ray's defaults, in the same run.

    python -m tools.cluster_failover                  # 3 node losses with each setting
    python -m tools.cluster_failover --rounds 5 --model my.onnx

Each round starts a head and two worker nodes on this machine (``ray.cluster_utils.Cluster``; the
settings are what ``RAY_health_check_*`` variables set on a real head), two RTSP cameras (a real
GStreamer server, 320x240 at 5 fps) as two one-camera groups, one per worker, and waits until both
are live. Then the worker of the first camera is killed (SIGKILL, as when a machine loses power) and
``cluster status`` is polled every 0.1 s. Reported per round, in seconds after the kill:

* noticed: the camera left its dead node (Ray declared the node dead; the camera reads ``unplaced``)
* placed:  its group is on the surviving node
* live:    it is ``live`` there with frames processed (what the issue bounds at 10 s)

Settings alternate (ours, Ray's, ours, ...) so drift in machine load hits both; medians at the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tools.common import ENGINES_DIR, FIXTURE_PT, Arms

GIVE_UP_S = 90.0
MARKS = ("noticed", "placed", "live")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="node losses with each setting")
    parser.add_argument("--model", default=str(FIXTURE_PT), help=".onnx, or -seg .pt (exported once)")
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument("--engines-dir", default=str(ENGINES_DIR))
    args = parser.parse_args()

    from streamseg.cluster.ray_support import FAST_HEALTH_CHECK
    from streamseg.inference.model_files import resolve_model
    from streamseg.testing.rtsp import RtspServer

    model = resolve_model(args.model, Path(args.engines_dir))
    settings: dict[str, dict[str, Any]] = {"streamseg": FAST_HEALTH_CHECK, "ray defaults": {}}
    after_kill = {mark: Arms(*settings) for mark in MARKS}  # seconds after the kill, per setting
    with RtspServer(mounts=2, size="320x240", fps=5) as cameras, tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            for name, system_config in settings.items():
                times = one_loss(system_config, cameras, model, args.imgsz, Path(tmp) / f"{i}-{len(name)}")
                for mark, seconds in times.items():
                    after_kill[mark].add(name, seconds)
                print(f"round {i + 1} {name:>12}: " + "  ".join(f"{k} {v:5.2f} s" for k, v in times.items()))
    print()
    print(f"median over {args.rounds} losses (seconds after the node was killed):")
    for name in settings:
        print(f"  {name:>12}: " + "  ".join(f"{k} {after_kill[k].median(name):5.2f}" for k in MARKS))
    ours, theirs = after_kill["live"].median("streamseg"), after_kill["live"].median("ray defaults")
    ratio = after_kill["live"].ratio("ray defaults", "streamseg")
    print(f"live again: {ours:.2f} s with streamseg's settings vs {theirs:.2f} s with Ray's ({ratio:.1f}x)")
    return 0


def one_loss(
    system_config: dict[str, Any], cameras: Any, model: Path, imgsz: int, out: Path
) -> dict[str, float]:
    from streamseg.cluster import client
    from streamseg.cluster.ray_support import connect
    from streamseg.config import (
        ClusterConfig,
        Config,
        DashboardConfig,
        ModelConfig,
        OutputConfig,
        SourceConfig,
    )
    from streamseg.testing.ray_cluster import RayCluster

    out.mkdir(parents=True)
    cluster = RayCluster.start(workers=2, worker_cpus=2, system_config=system_config)
    try:
        connect(cluster.address)
        cfg = Config(
            sources=(SourceConfig(cameras.url(0)), SourceConfig(cameras.url(1))),
            model=ModelConfig(path=str(model), imgsz=imgsz, batch=2, threads=1),
            output=OutputConfig(record=str(out / "out.mp4")),
            cluster=ClusterConfig(cameras_per_group=1, probe_s=0.25),
            dashboard=DashboardConfig(listen="127.0.0.1:0"),
        )
        client.up(cfg, None, cluster.address)
        cams = wait(cluster.address, lambda c: all(live(x) for x in c.values()))
        dead = cams["cam0"]["node"]
        cluster.kill_worker(dead)
        killed = time.monotonic()
        marks: dict[str, float] = {}
        while "live" not in marks and time.monotonic() - killed < GIVE_UP_S:
            cam = {c["name"]: c for c in client.status(cluster.address)["cameras"]}["cam0"]
            now = time.monotonic() - killed
            if cam["node"] != dead:
                marks.setdefault("noticed", now)
            if cam["node"] not in (None, dead):
                marks.setdefault("placed", now)
            if live(cam) and cam["node"] != dead:
                marks["live"] = now
            time.sleep(0.1)
        client.down(cluster.address)
        return {k: marks.get(k, float("nan")) for k in MARKS}
    finally:
        cluster.shutdown()


def live(cam: dict[str, Any]) -> bool:
    return bool(cam["health"] == "live" and cam["node"] and cam["processed"] > 0)


def wait(address: str, predicate: Any, timeout: float = 120) -> dict[str, dict[str, Any]]:
    from streamseg.cluster import client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cams = {c["name"]: c for c in client.status(address)["cameras"]}
        if predicate(cams):
            return cams
        time.sleep(0.2)
    raise SystemExit(f"cameras not live after {timeout:.0f} s: {cams}")


if __name__ == "__main__":
    sys.exit(main())
