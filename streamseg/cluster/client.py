"""What ``streamseg cluster up/status/add/remove/down`` do, from any machine that can reach the cluster.

Each call connects as a short-lived Ray driver, talks to the detached controller (namespace
``streamseg``) and returns; the controller and its groups keep running after the driver exits.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from streamseg.cluster.ray_support import CONTROLLER, NAMESPACE, ROSTER, connect, require_ray
from streamseg.cluster.roster import Roster, find_roster
from streamseg.config import Config, load_yaml, source_from
from streamseg.errors import ClusterError, ConfigError, StreamsegError

logger = logging.getLogger(__name__)

UP_TIMEOUT_S = 120.0  # the controller starts a dashboard and makes its plan; groups start after
CALL_TIMEOUT_S = 120.0  # an add may wait for a new group to load its model
DOWN_TIMEOUT_S = 120.0
GONE_TIMEOUT_S = 15.0
HEAD_RESOURCE = "node:__internal_head__"  # Ray gives the head node this resource


def load_cluster_config(path: str | Path, base: Path | None = None) -> Config:
    """The YAML config of ``streamseg run``, checked for the cluster; relative paths made absolute
    from ``base`` (the current directory), since the groups run elsewhere."""
    cfg = load_yaml(path)
    if not cfg.sources:
        raise ConfigError(f"{path}: a cluster needs cameras: list them under 'sources'")
    if cfg.output.telemetry:
        raise ConfigError(
            f"{path}: output.telemetry is not used by streamseg cluster: scrape the dashboard's /metrics "
            "or run `streamseg cluster status --json`"
        )
    return absolute_paths(cfg, base or Path.cwd())


def absolute_paths(cfg: Config, base: Path) -> Config:
    """Model, engines, outputs and file sources as absolute paths (URLs and webcams unchanged)."""

    def fix(path: str | None) -> str | None:
        if path is None or "://" in path or path.isdigit() or Path(path).is_absolute():
            return path
        if path == cfg.model.path and not (base / path).exists():
            return path  # a model name Ultralytics downloads, like yolov8n-seg.pt
        return str(base / path)

    sources = tuple(dataclasses.replace(s, uri=fix(s.uri) or s.uri) for s in cfg.sources)
    model = dataclasses.replace(
        cfg.model, path=fix(cfg.model.path) or cfg.model.path, engines_dir=str(base / cfg.model.engines_dir)
    )
    output = dataclasses.replace(
        cfg.output, record=fix(cfg.output.record), save_results=fix(cfg.output.save_results)
    )
    return dataclasses.replace(cfg, sources=sources, model=model, output=output)


def up(cfg: Config, token: str | None, address: str | None = None) -> dict[str, Any]:
    """Start the detached controller, which places the groups; returns where its dashboard is."""
    from streamseg.cluster.controller import ClusterController  # noqa: PLC0415

    ray = connect(address)
    if _controller(ray) is not None:
        raise ClusterError("a streamseg cluster is already running: `streamseg cluster down` first")
    options: dict[str, Any] = {
        "name": CONTROLLER,
        "namespace": NAMESPACE,
        "lifetime": "detached",
        "num_cpus": 0,
        "max_concurrency": 16,
        "max_restarts": -1,
    }
    if any(n.get("Alive") and HEAD_RESOURCE in n["Resources"] for n in ray.nodes()):
        # On the head, with the cluster's own state: a controller there dies only with the cluster.
        options["resources"] = {HEAD_RESOURCE: 0.001}
    _kill_stale_roster(ray)
    roster_options = {**options, "name": ROSTER, "max_concurrency": 1}  # one change at a time
    roster = ray.remote(Roster).options(**roster_options).remote(list(cfg.sources))
    # The token goes by a call, not as an argument Ray would keep in its cluster state (roster.py).
    without_token = dataclasses.replace(cfg, dashboard=dataclasses.replace(cfg.dashboard, token=None))
    handle = None
    try:
        ray.get(roster.keep_token.remote(token), timeout=UP_TIMEOUT_S)
        handle = ray.remote(ClusterController).options(**options).remote(without_token)
        info: dict[str, Any] = ray.get(handle.ping.remote(), timeout=UP_TIMEOUT_S)
        error = info["error"]
    except (ray.exceptions.RayError, TimeoutError) as exc:
        error = _reason(exc)
    if error:
        for actor in (handle, roster):
            if actor is not None:
                ray.kill(actor, no_restart=True)
        raise ClusterError(f"the controller did not start: {error}")
    return info


def _kill_stale_roster(ray: Any) -> None:
    """A roster left by a controller that was killed outside ``cluster down`` holds an old list."""
    stale = find_roster(ray)
    if stale is None:
        return
    ray.kill(stale, no_restart=True)
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while find_roster(ray) is not None and time.monotonic() < deadline:
        time.sleep(0.1)


def status(address: str | None = None) -> dict[str, Any]:
    ray = connect(address)
    result: dict[str, Any] = _ask(ray, "status")
    return result


def add(name: str, uri: str, address: str | None = None) -> None:
    """Add a camera; raises the error that keeps it out (name taken, unreachable, bad field)."""
    camera = source_from({"uri": uri, "name": name}, "camera")
    ray = connect(address)
    error = _ask(ray, "add_camera", camera)
    if error is not None:
        raise error


def remove(name: str, address: str | None = None) -> None:
    ray = connect(address)
    error = _ask(ray, "remove_camera", name)
    if error is not None:
        raise error


def down(address: str | None = None) -> dict[str, Any]:
    """Stop everything of ours (recordings finalized); returns once no actor of ours is left."""
    ray = connect(address)
    handle = _controller(ray)
    if handle is None:
        raise ClusterError("no streamseg cluster is running (nothing to stop)")
    summary: dict[str, Any] = {"groups": 0, "recordings": []}
    try:
        summary = ray.get(handle.shutdown.remote(), timeout=DOWN_TIMEOUT_S)
    except (ray.exceptions.RayError, TimeoutError) as exc:
        logger.warning("the controller did not stop cleanly (%s); killing it", _reason(exc))
    ray.kill(handle, no_restart=True)
    roster = find_roster(ray)
    if roster is not None:
        ray.kill(roster, no_restart=True)
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while (left := ours(ray)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if left:
        raise ClusterError(f"still running after {GONE_TIMEOUT_S:.0f} s: {', '.join(left)}")
    return summary


def ours(ray: Any) -> list[str]:
    """Names of our actors still alive in the cluster."""
    named = ray.util.list_named_actors(all_namespaces=True)
    return sorted(a["name"] for a in named if a.get("namespace") == NAMESPACE)


def _ask(ray: Any, method: str, *args: Any) -> Any:
    handle = _controller(ray)
    if handle is None:
        raise ClusterError("no streamseg cluster is running: start it with `streamseg cluster up CONFIG`")
    try:
        return ray.get(getattr(handle, method).remote(*args), timeout=CALL_TIMEOUT_S)
    except (ray.exceptions.RayError, TimeoutError) as exc:
        raise ClusterError(f"the controller did not answer: {_reason(exc)}") from None


def _controller(ray: Any) -> Any:
    try:
        return ray.get_actor(CONTROLLER, namespace=NAMESPACE)
    except ValueError:
        return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, StreamsegError):
        return str(exc)
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


__all__ = ["absolute_paths", "add", "down", "load_cluster_config", "remove", "require_ray", "status", "up"]
