"""A real Ray cluster on this machine (a head and two worker nodes, ``ray.cluster_utils.Cluster``) with
the documented health-check settings, real RTSP cameras, and helpers to deploy and watch streamseg on it.

One cluster for the whole session: it takes about 10 s to start on two cores. The head has no CPUs
for groups, so every group runs on a worker node; each worker has room for two groups.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from streamseg.config import (
    ClusterConfig,
    Config,
    DashboardConfig,
    ModelConfig,
    OutputConfig,
    SourceConfig,
    ZoneConfig,
)
from streamseg.testing.ray_cluster import RayCluster
from streamseg.testing.rtsp import RtspServer, gst_rtsp_available
from tests.live.conftest import APT

WORKER_CPUS = 2  # room for two groups of cpus_per_group=1
CAMERA_FPS = 5


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.fail("the cluster tests need Ray: pip install -e '.[dev,cluster]'")
    from streamseg.cluster.ray_support import FAST_HEALTH_CHECK, connect

    handle = RayCluster.start(workers=2, worker_cpus=WORKER_CPUS, system_config=FAST_HEALTH_CHECK)
    try:
        connect(handle.address)
        yield handle
    finally:
        handle.shutdown()


@pytest.fixture(scope="session")
def cameras() -> Iterator[RtspServer]:
    """Four paced RTSP cameras (320x240 at 5 fps) on loopback, reachable from every node."""
    why = gst_rtsp_available()
    if why is not None:
        pytest.fail(f"the cluster tests need GStreamer's RTSP server ({why}); install it: {APT}")
    with RtspServer(mounts=4, size="320x240", fps=CAMERA_FPS) as server:
        yield server


@pytest.fixture
def cluster_config(tmp_path: Path, random_seg_onnx: Path, engines_dir: Path) -> Callable[..., Config]:
    """A config for ``cluster up``: small and cheap (imgsz 160, one ONNX thread per group), recorded."""
    (tmp_path / "rec").mkdir()

    def make(*sources: str, per_group: int = 1, zones: bool = False) -> Config:
        """``zones``: each camera watches a zone over its whole picture (so it is tracked)."""
        whole = (ZoneConfig("all", ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))),) if zones else ()
        return Config(
            sources=tuple(SourceConfig(s, zones=whole) for s in sources),
            model=ModelConfig(
                path=str(random_seg_onnx), imgsz=160, batch=2, threads=1, engines_dir=str(engines_dir)
            ),
            output=OutputConfig(record=str(tmp_path / "rec" / "out.mp4")),
            cluster=ClusterConfig(cameras_per_group=per_group, probe_s=0.25),
            dashboard=DashboardConfig(listen="127.0.0.1:0"),
        )

    return make


@pytest.fixture
def deployed(ray_cluster: RayCluster) -> Iterator[Callable[..., dict[str, Any]]]:
    """``deploy(config, token=None)`` runs ``cluster up``; whatever a test leaves running is brought
    down after it."""
    from streamseg.cluster import client

    def deploy(cfg: Config, token: str | None = None) -> dict[str, Any]:
        return client.up(cfg, token, ray_cluster.address)

    yield deploy
    try:
        client.down(ray_cluster.address)
    except Exception as exc:  # already down is fine
        logging.getLogger(__name__).debug("teardown: %s", exc)


def cameras_by_name(address: str) -> dict[str, dict[str, Any]]:
    from streamseg.cluster import client

    return {c["name"]: c for c in client.status(address)["cameras"]}


def wait_until(
    address: str, what: str, predicate: Callable[[dict[str, dict[str, Any]]], bool], timeout: float = 60
) -> dict[str, dict[str, Any]]:
    """Poll ``cluster status`` until ``predicate(cameras by name)``; fails with the last status."""
    deadline = time.monotonic() + timeout
    cams: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        cams = cameras_by_name(address)
        if predicate(cams):
            return cams
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}; status: {cams}")


def flowing(cam: dict[str, Any]) -> bool:
    """Live and processing on some node."""
    return bool(cam["health"] == "live" and cam["node"] and cam["processed"] > 0)


def our_processes(within_s: float = 10.0) -> list[str]:
    """Command lines of Ray worker processes still running our actors (Ray names them ``ray::Class``)
    once ``within_s`` has passed: a killed actor's process takes a moment to exit."""
    deadline = time.monotonic() + within_s
    while True:
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            line = " ".join(proc.info["cmdline"] or []).strip()
            if line.startswith(("ray::GroupWorker", "ray::ClusterController")):
                found.append(line)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)
