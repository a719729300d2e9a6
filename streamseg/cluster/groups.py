"""The controller's view of its groups: the wanted cameras of each, the actor running them, and the
status document made from them (``streamseg cluster status``, the cluster's dashboard)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from streamseg.cluster.ray_support import node_id
from streamseg.config import SourceConfig


@dataclass
class Group:
    """The controller's view of one group: the wanted cameras and the actor running them, if any."""

    name: str
    cameras: list[SourceConfig]
    actor: Any = None  # ray.actor.ActorHandle of a GroupWorker
    generation: int = 0
    where: dict[str, Any] | None = None  # node and pid, once the actor is up on a node
    started: bool = False  # its pipeline runs
    pending: dict[str, Any] = field(default_factory=dict)  # "where" / "start" / "status" -> ObjectRef
    status: dict[str, Any] | None = None  # the last answer to status()
    probed_at: float = 0.0
    error: str | None = None
    failures: int = 0  # failed starts in a row, for the pause before the next try
    retry_at: float = 0.0
    restarts: int = 0  # times it was started again after its actor died
    dropped: bool = False

    def names(self) -> list[str]:
        return [c.display_name() for c in self.cameras]

    @property
    def state(self) -> str:
        if self.actor is None:
            return "failed" if self.error else "unplaced"
        if self.where is None:
            return "unplaced"
        return "running" if self.started else "starting"


def status_document(groups: list[Group], dashboard_url: str | None, started_at: float) -> dict[str, Any]:
    """Every camera with its group, node and health; every group; where the controller and its
    dashboard are."""
    return {
        "cameras": [row for g in groups for row in camera_rows(g)],
        "groups": [
            {
                "name": g.name,
                "state": g.state,
                "node": g.where["node"] if g.where else None,
                "pid": g.where["pid"] if g.where else None,
                "cameras": g.names(),
                "restarts": g.restarts,
                "error": g.error,
                "recordings": (g.status or {}).get("recordings", []),
                "sampled_at": ((g.status or {}).get("status") or {}).get("timestamp"),
            }
            for g in groups
        ],
        "dashboard": dashboard_url,
        "controller_node": node_id(),
        "controller_pid": os.getpid(),
        "uptime_s": round(time.time() - started_at, 1),
    }


def camera_rows(g: Group) -> list[dict[str, Any]]:
    """One row per camera of the group: where it runs and how it is, in the single-machine words
    (plus ``unplaced`` while no node runs its group)."""
    node = g.where["node"] if g.where else None
    doc = (g.status or {}).get("status") or {}
    seen = {s["name"]: s for s in doc.get("sources", [])}
    failed = (g.status or {}).get("failed", {})
    rows = []
    for name in g.names():
        row: dict[str, Any] = {
            "name": name,
            "group": g.name,
            "node": node,
            "health": "connecting",
            "fps": 0.0,
            "frame_age_ms": None,
            "latency_ms": None,
            "processed": 0,
            "dropped": 0,
            "reconnects": 0,
            "last_error": None,
        }
        if g.state in ("unplaced", "failed"):
            row["health"], row["last_error"] = g.state, g.error
        elif name in failed:
            row["health"], row["last_error"] = "failed", failed[name]
        elif name in seen:
            row.update(seen[name])
            row["group"], row["node"] = g.name, node
        rows.append(row)
    return rows
