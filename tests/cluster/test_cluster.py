"""streamseg on a real Ray cluster (head + 2 workers on this machine) with real RTSP cameras and a real
clip: placement across nodes, one view of everything, cameras added and removed while running, a
crashed group and a lost node recovered within the bound, and nothing left behind by ``down``."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streamseg.cluster import client
from streamseg.config import Config
from streamseg.errors import (
    ClusterError,
    SourceError,
    SourceExistsError,
    SourceNotFoundError,
    UnknownSourceError,
)
from streamseg.testing.media import read_video
from streamseg.testing.ray_cluster import RayCluster
from streamseg.testing.rtsp import RtspServer, free_port
from tests.conftest import VIDEOS
from tests.web.helpers import get, send

from .conftest import cameras_by_name, flowing, our_processes, wait_until

pytestmark = pytest.mark.slow
TOKEN = "a-cluster-token-of-some-length"
RECOVERY_BOUND_S = 10.0  # the bound: live again within 10 s of the loss
Deploy = Callable[..., dict[str, Any]]  # deploy(config, token=None)


def test_cameras_spread_over_nodes_with_one_view(
    ray_cluster: RayCluster, cameras: RtspServer, cluster_config: Callable[..., Config], deployed: Deploy
) -> None:
    info = deployed(cluster_config(cameras.url(0), cameras.url(1)))
    assert (info["groups"], info["cameras"]) == (2, 2)
    cams = wait_until(
        ray_cluster.address,
        "both cameras live with a frame rate",
        lambda c: all(flowing(cam) and cam["fps"] > 0 for cam in c.values()),
    )
    workers = {n.node_id for n in ray_cluster.workers}
    assert {c["node"] for c in cams.values()} == workers, "one group per worker node"
    assert {c["group"] for c in cams.values()} == {"g1", "g2"}
    for cam in cams.values():
        assert cam["frame_age_ms"] is not None and cam["frame_age_ms"] < 5000

    # One dashboard for the cluster, on the controller's node: every camera with its node.
    url = info["dashboard"]
    shown = {s["name"]: s for s in get(url + "api/status").json()["sources"]}
    assert {n: s["node"] for n, s in shown.items()} == {n: c["node"] for n, c in cams.items()}
    preview = get(url + "api/preview/cam0")
    assert preview.status == 200 and preview.headers["Content-Type"] == "image/jpeg"
    assert preview.body[:2] == b"\xff\xd8"
    metrics = get(url + "metrics").text
    for cam in cams.values():
        labels = f'group="{cam["group"]}",node="{cam["node"]}",source="{cam["name"]}"'
        assert f"streamseg_frames_total{{{labels}}}" in metrics
        assert f'streamseg_cluster_camera_state{{{labels},state="live"}} 1.0' in metrics
    assert 'streamseg_stage_seconds_count{group="g1"' in metrics

    summary = client.down(ray_cluster.address)
    assert summary["groups"] == 2
    import ray

    assert client.ours(ray) == [] and our_processes() == []
    for path in summary["recordings"]:  # finalized: each plays to its end
        times, codec, *_ = read_video(Path(path))
        assert codec == "h264" and len(times) > 0


def test_cameras_added_and_removed_while_running(
    ray_cluster: RayCluster,
    cameras: RtspServer,
    cluster_config: Callable[..., Config],
    deployed: Deploy,
    tmp_path: Path,
) -> None:
    address = ray_cluster.address
    info = deployed(cluster_config(cameras.url(0)))
    wait_until(address, "cam0 live", lambda c: flowing(c["cam0"]))
    clip = VIDEOS / "street_pedestrians_720p30.mp4"  # a real clip, as a file camera

    client.add("street", str(clip), address)
    cams = wait_until(address, "the clip processed", lambda c: c["street"]["processed"] >= 10)
    street_group = cams["street"]["group"]
    client.remove("street", address)  # returns once its recording is finalized
    status = client.status(address)
    assert [c["name"] for c in status["cameras"]] == ["cam0"]
    assert street_group not in {g["name"] for g in status["groups"]}, "its empty group still runs"
    (street_file,) = (tmp_path / "rec").glob("out_street_*.mp4")
    times, codec, _, width, height = read_video(street_file)
    assert codec == "h264" and (width, height) == (1280, 720) and len(times) >= 10

    before = cameras_by_name(address)["cam0"]["processed"]
    client.add("cam2", cameras.url(2), address)
    cams = wait_until(address, "cam2 live", lambda c: flowing(c["cam2"]))
    assert cams["cam0"]["processed"] > before, "cam0 stopped while a camera was added"
    assert cams["cam2"]["group"] != cams["cam0"]["group"]  # cameras_per_group=1: a group each

    # Bad input: one clear error, and nothing changes.
    with pytest.raises(SourceExistsError, match="'cam2' is already in the cluster"):
        client.add("cam2", cameras.url(3), address)
    with pytest.raises(SourceError, match=r"127\.0\.0\.1"):
        client.add("nobody", f"rtsp://127.0.0.1:{free_port()}/x", address)
    with pytest.raises(SourceNotFoundError):
        client.add("ghost", str(tmp_path / "no-such.mp4"), address)
    with pytest.raises(UnknownSourceError, match="no camera named 'zzz'"):
        client.remove("zzz", address)
    reply = send("POST", info["dashboard"] + "api/sources", {"uri": cameras.url(3), "fps": "fast"})
    assert reply.status == 400 and "fps must be a finite number" in reply.json()["error"]
    status = client.status(address)
    assert sorted(c["name"] for c in status["cameras"]) == ["cam0", "cam2"]
    assert len(status["groups"]) == 2

    # Through the dashboard too: add, then remove.
    assert (
        send("POST", info["dashboard"] + "api/sources", {"uri": cameras.url(3), "name": "cam3"}).status == 201
    )
    wait_until(address, "cam3 live", lambda c: flowing(c["cam3"]))
    assert send("DELETE", info["dashboard"] + "api/sources/cam3").status == 200

    assert sorted(cameras_by_name(address)) == ["cam0", "cam2"]
    cam0 = cameras_by_name(address)["cam0"]
    wait_until(address, "cam0 still live", lambda c: c["cam0"]["processed"] > cam0["processed"])


def test_a_crashed_group_starts_again(
    ray_cluster: RayCluster, cameras: RtspServer, cluster_config: Callable[..., Config], deployed: Deploy
) -> None:
    address = ray_cluster.address
    deployed(cluster_config(cameras.url(0)))
    wait_until(address, "cam0 live", lambda c: flowing(c["cam0"]))
    group = client.status(address)["groups"][0]
    os.kill(group["pid"], signal.SIGKILL)  # the group's process dies; its node lives on
    crashed = time.monotonic()
    wait_until(
        address, "cam0 on a new process", lambda c: c["cam0"]["health"] != "live" or not c["cam0"]["node"]
    )
    wait_until(address, "cam0 live again", lambda c: flowing(c["cam0"]), timeout=RECOVERY_BOUND_S)
    took = time.monotonic() - crashed
    restarted = client.status(address)["groups"][0]
    assert restarted["restarts"] == 1 and restarted["pid"] != group["pid"]
    assert took < RECOVERY_BOUND_S


def test_a_crashed_controller_starts_again_with_the_cameras_it_had(
    ray_cluster: RayCluster, cameras: RtspServer, cluster_config: Callable[..., Config], deployed: Deploy
) -> None:
    """Ray restarts the detached controller; its groups died with it and are placed again, with the
    cameras added and removed while it ran (the roster), not the config's, and the dashboard still
    demands the token given to ``cluster up`` (which no actor was built with)."""
    address = ray_cluster.address
    info = deployed(cluster_config(cameras.url(0), cameras.url(1)), TOKEN)
    sources_api = info["dashboard"] + "api/sources/nobody"
    assert send("DELETE", sources_api).status == 401
    assert send("DELETE", sources_api, headers={"Authorization": f"Bearer {TOKEN}"}).status == 404
    wait_until(address, "cam0 live", lambda c: flowing(c["cam0"]))
    client.remove("cam1", address)
    client.add("door", cameras.url(2), address)
    wait_until(address, "door live", lambda c: flowing(c["door"]))
    before = client.status(address)
    os.kill(before["controller_pid"], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:  # the controller does not answer while Ray starts it again
        try:
            after = client.status(address)
        except ClusterError:
            after = None
        if after is not None and after["controller_pid"] != before["controller_pid"]:
            break
        assert time.monotonic() < deadline, "the controller did not come back"
        time.sleep(0.5)
    cams = wait_until(
        address,
        "cam0 and door live again",
        lambda c: flowing(c["cam0"]) and "door" in c and flowing(c["door"]),
    )
    assert sorted(cams) == ["cam0", "door"]
    old_pids = {g["pid"] for g in before["groups"]}
    assert not old_pids & {g["pid"] for g in client.status(address)["groups"]}
    sources_api = client.status(address)["dashboard"] + "api/sources/nobody"  # a new port (listen :0)
    assert send("DELETE", sources_api).status == 401
    assert send("DELETE", sources_api, headers={"Authorization": f"Bearer {TOKEN}"}).status == 404


def test_node_loss_moves_cameras_and_waits_for_capacity(
    ray_cluster: RayCluster, cameras: RtspServer, cluster_config: Callable[..., Config], deployed: Deploy
) -> None:
    """Three one-camera groups on two workers (2 + 1). The worker with two dies: one of its groups fits
    on the survivor and is live again within the bound, the other shows ``unplaced`` until a new node
    joins. The camera on the survivor never stops."""
    address = ray_cluster.address
    url = deployed(cluster_config(cameras.url(0), cameras.url(1), cameras.url(2), zones=True))["dashboard"]
    # 25 frames (5 s) each first: a killed machine's file plays up to about 2 s before the kill.
    cams = wait_until(
        address,
        "three cameras recording",
        lambda c: len(c) == 3 and all(flowing(cam) and cam["processed"] >= 25 for cam in c.values()),
    )
    per_node: dict[str, list[str]] = {}
    for cam in cams.values():
        per_node.setdefault(cam["node"], []).append(cam["name"])
    assert sorted(map(len, per_node.values())) == [1, 2]
    doomed = next(node for node, names in per_node.items() if len(names) == 2)
    survivor_cam = next(names[0] for node, names in per_node.items() if len(names) == 1)
    moved = per_node[doomed]
    sessions = _track_sessions(url)
    assert set(sessions) == set(cams)  # every camera tracked and counting, wherever it runs

    ray_cluster.kill_worker(doomed)
    lost = time.monotonic()
    last = cams[survivor_cam]["processed"]
    live_again: dict[str, float] = {}
    while time.monotonic() - lost < 30 and not (live_again and _unplaced(cams, moved)):
        cams = cameras_by_name(address)
        survivor = cams[survivor_cam]
        assert survivor["health"] == "live" and survivor["node"] not in (None, doomed), survivor
        assert survivor["processed"] >= last, "the surviving camera went backwards"
        last = survivor["processed"]
        for name in moved:
            if flowing(cams[name]) and cams[name]["node"] != doomed and name not in live_again:
                live_again[name] = time.monotonic() - lost
        time.sleep(0.2)
    assert len(live_again) == 1, f"expected exactly one camera to fit on the survivor: {cams}"
    ((placed, took),) = live_again.items()
    assert took < RECOVERY_BOUND_S, f"{placed} live again only after {took:.1f} s"
    waiting = next(n for n in moved if n != placed)
    assert cams[waiting]["health"] == "unplaced" and cams[waiting]["node"] is None
    assert cams[survivor_cam]["processed"] > 0

    new_node = ray_cluster.add_worker()  # capacity returns: the waiting camera is placed at once
    cams = wait_until(address, f"{waiting} placed on the new node", lambda c: flowing(c[waiting]))
    assert cams[waiting]["node"] == new_node.node_id
    # the moved camera counts again on its new node, its tracks restarted under a new session
    after = _track_sessions(url)
    assert after[placed] != sessions[placed] and after[survivor_cam] == sessions[survivor_cam]
    groups = {g["name"]: g for g in client.status(address)["groups"]}
    assert groups[cams[placed]["group"]]["restarts"] == 1
    assert groups[cams[survivor_cam]["group"]]["restarts"] == 0
    summary = client.down(address)
    # The moved camera recorded on the lost node until it died, then into a new file on the new one.
    files = sorted(p for p in summary["recordings"] if f"_{placed}_" in p)
    earlier = sorted(Path(summary["recordings"][0]).parent.glob(f"out_{placed}_*.mp4"))
    assert len(files) == 1 and len(earlier) == 2 and Path(files[0]) == earlier[1]
    for path in earlier:
        assert len(read_video(path)[0]) > 0, f"{path.name} does not play"


def _track_sessions(url: str) -> dict[str, str]:
    """Each tracked camera's ``track_session`` on the cluster's dashboard (its zone listed)."""
    scene = get(url + "api/status").json()["scene"]["sources"]
    assert all("all" in s["zones"] for s in scene.values()), scene
    return {name: s["track_session"] for name, s in scene.items()}


def _unplaced(cams: dict[str, dict[str, Any]], names: list[str]) -> bool:
    return any(cams[n]["health"] == "unplaced" for n in names)


def test_down_leaves_nothing_and_status_says_so(ray_cluster: RayCluster) -> None:
    import ray

    with pytest.raises(ClusterError, match="no streamseg cluster is running"):
        client.status(ray_cluster.address)
    with pytest.raises(ClusterError, match="nothing to stop"):
        client.down(ray_cluster.address)
    assert client.ours(ray) == [] and our_processes() == []
