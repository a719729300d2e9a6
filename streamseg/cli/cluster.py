"""``streamseg cluster up/status/add/remove/down``: camera groups on a Ray cluster. Ray is imported only
when one of these runs, so a missing Ray costs single-machine use nothing."""

from __future__ import annotations

import argparse
import json
from typing import Any

CLUSTER_EPILOG = """\
examples:
  ray start --head                                on the first machine (then on the others:
                                                  ray start --address FIRST:6379)
  streamseg cluster up cams.yaml                  place the cameras of cams.yaml on the cluster
  streamseg cluster status                        every camera: group, node, health, fps, frame age
  streamseg cluster add door rtsp://10.0.0.9/s1   one more camera, while the others run
  streamseg cluster remove door                   stop it (its recording is finalized)
  streamseg cluster down                          stop everything of ours, recordings finalized

The config is the one `streamseg run --config` takes, with its cameras under `sources` and an
optional `cluster` section (cameras_per_group, cpus_per_group, gpus_per_group, probe_s). Paths in it
must exist on every machine; relative ones are taken from the directory you run `up` in.
--address: auto (the cluster this machine belongs to, or $RAY_ADDRESS), HOST:PORT, or ray://HOST:10001.
"""


def add_cluster_commands(sub: Any) -> None:
    cluster = sub.add_parser(
        "cluster",
        help="run camera groups on the machines of a Ray cluster",
        description="Place camera groups on the nodes of a running Ray cluster (pip install "
        "'streamseg[cluster]'), move them when a node dies, add and remove cameras while it runs.",
        epilog=CLUSTER_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = cluster.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = actions.add_parser(name, help=help_text, description=help_text + ".")
        p.add_argument(
            "--address", metavar="ADDR", help="the Ray cluster: auto (default), HOST:PORT or ray://HOST:PORT"
        )
        p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
        p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
        return p

    up = action("up", "start the controller, which places the cameras of CONFIG on the cluster")
    up.add_argument("config", metavar="CONFIG.yaml", help="the cameras (sources) and settings")
    up.add_argument(
        "--dashboard-token",
        metavar="TOKEN",
        help="for a dashboard off loopback; prefer the STREAMSEG_DASHBOARD_TOKEN variable",
    )
    status = action("status", "show every camera with its group, node, health, fps and frame age")
    status.add_argument("--json", action="store_true", help='print {"cameras": [...], "groups": [...]}')
    add = action("add", "add a camera to the running cluster")
    add.add_argument("name", metavar="NAME", help="a name not in use")
    add.add_argument("uri", metavar="URI", help="rtsp://..., http(s)://..., a file, or a webcam index")
    remove = action("remove", "stop a camera and finalize its recording")
    remove.add_argument("name", metavar="NAME")
    action("down", "stop every group and the controller; recordings are finalized")


def cmd_cluster(args: argparse.Namespace) -> int:
    from streamseg.cluster import client  # noqa: PLC0415 - imports Ray on use

    if args.action == "up":
        return _up(args, client)
    if args.action == "status":
        doc = client.status(args.address)
        print(json.dumps(doc, indent=2) if args.json else status_table(doc))
        return 0
    if args.action == "add":
        client.add(args.name, args.uri, args.address)
        print(f"streamseg: camera {args.name} added")
        return 0
    if args.action == "remove":
        client.remove(args.name, args.address)
        print(f"streamseg: camera {args.name} removed; its recording is finalized")
        return 0
    summary = client.down(args.address)
    print(f"streamseg: cluster down: {summary['groups']} groups stopped, nothing of ours left running")
    for path in summary["recordings"]:
        print(f"streamseg: recorded {path}")
    return 0


def _up(args: argparse.Namespace, client: Any) -> int:
    from pathlib import Path  # noqa: PLC0415

    from streamseg.web.access import DEFAULT_HOST, DEFAULT_PORT, parse_listen, resolve_token  # noqa: PLC0415

    cfg = client.load_cluster_config(args.config)
    address = parse_listen(cfg.dashboard.listen or f"{DEFAULT_HOST}:{DEFAULT_PORT}")
    token = resolve_token(address, args.dashboard_token or cfg.dashboard.token)
    info = client.up(cfg, token, args.address)
    print(
        f"streamseg: cluster up: {info['cameras']} cameras in {info['groups']} groups; "
        f"dashboard at {info['dashboard']} on node {info['node'][:8]}"
    )
    print(f"streamseg: watch with `streamseg cluster status` (config {Path(args.config).name})")
    return 0


def status_table(doc: dict[str, Any]) -> str:
    """The human form of ``cluster status``."""
    head = ("CAMERA", "GROUP", "NODE", "HEALTH", "FPS", "AGE ms", "PROCESSED", "ERROR")
    rows = [head]
    for c in doc["cameras"]:
        age = c.get("frame_age_ms")
        rows.append(
            (
                c["name"],
                c["group"],
                (c["node"] or "-")[:8],
                c["health"],
                f"{c['fps']:.1f}",
                "-" if age is None else f"{age:.0f}",
                str(c.get("processed", 0)),
                c.get("last_error") or "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append(f"dashboard: {doc['dashboard']} (controller on node {doc['controller_node'][:8]})")
    return "\n".join(lines)
