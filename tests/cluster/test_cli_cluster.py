"""``streamseg cluster ...`` from the command line: help that teaches, one-line errors that never hang
(no Ray installed, nothing listening, bad config), and the whole round trip on the test cluster."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamseg.config import Config
from streamseg.testing.ray_cluster import RayCluster
from streamseg.testing.rtsp import RtspServer, free_port
from tests.cli.test_main import OFFLINE_ENV, assert_one_line_error, run_cli

from .conftest import cameras_by_name, flowing, our_processes, wait_until

NO_RAY = "import sys; sys.modules['ray'] = None; from streamseg.cli import main; sys.exit(main(sys.argv[1:]))"


def test_help_teaches() -> None:
    proc = run_cli("cluster", "--help")
    assert proc.returncode == 0
    for words in (
        "ray start --head",
        "cluster up cams.yaml",
        "cluster add door",
        "cameras_per_group",
        "--address",
    ):
        assert words in proc.stdout
    assert run_cli("cluster").returncode == 2  # an action is required


def test_without_ray_one_line_names_the_extra() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", NO_RAY, "cluster", "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert_one_line_error(proc, "pip install 'streamseg[cluster]'")
    # Single-machine use never needs Ray: the CLI, pipeline and dashboard import without it.
    code = "import sys; sys.modules['ray'] = None; import streamseg.cli, streamseg.pipeline, streamseg.web"
    assert subprocess.run([sys.executable, "-c", code], timeout=60, check=False).returncode == 0


def test_nothing_listening_is_an_error_not_a_hang() -> None:
    started = time.monotonic()
    proc = run_cli("cluster", "status", "--address", f"127.0.0.1:{free_port()}", timeout=60)
    assert proc.returncode == 2 and time.monotonic() - started < 30
    assert_one_line_error(proc, "no Ray cluster answers at 127.0.0.1:", "ray start --head")
    assert_one_line_error(run_cli("cluster", "down", "--address", "nonsense"), "--address must be")


BAD_CONFIGS = [
    ("model: {imgsz: 320}\n", "a cluster needs cameras"),
    ("sources: [rtsp://10.0.0.1/a]\noutput: {telemetry: t.jsonl}\n", "output.telemetry is not used"),
    (
        "sources: [rtsp://10.0.0.1/a]\ncluster: {cameras_per_group: -1}\n",
        "cluster.cameras_per_group must be >= 0",
    ),
    (
        "sources: [rtsp://10.0.0.1/a]\ncluster: {cameras_per_grup: 2}\n",
        "unknown config key 'cameras_per_grup'",
    ),
]


def test_bad_config_or_camera_before_any_connection(tmp_path: Path) -> None:
    for i, (text, message) in enumerate(BAD_CONFIGS):
        config = tmp_path / f"bad{i}.yaml"
        config.write_text(text)
        assert_one_line_error(run_cli("cluster", "up", str(config)), message)
    assert_one_line_error(run_cli("cluster", "up", str(tmp_path / "none.yaml")), "config file not found")
    assert_one_line_error(run_cli("cluster", "add", "a/b", "rtsp://10.0.0.1/x"), "without '/'")


def cli(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamseg", "cluster", *args, "--address", address],
        capture_output=True,
        text=True,
        timeout=180,
        env=OFFLINE_ENV,
        check=False,
    )


def write_config(cfg: Config, path: Path) -> Path:
    data: dict[str, Any] = {
        "sources": [s.uri for s in cfg.sources],
        "model": {
            "path": cfg.model.path,
            "imgsz": cfg.model.imgsz,
            "threads": 1,
            "engines_dir": cfg.model.engines_dir,
        },
        "output": {"record": cfg.output.record},
        "cluster": {"cameras_per_group": 2, "probe_s": 0.25},
        "dashboard": {"listen": "127.0.0.1:0"},
    }
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.slow
def test_round_trip(
    ray_cluster: RayCluster, cameras: RtspServer, cluster_config: Callable[..., Config], tmp_path: Path
) -> None:
    address = ray_cluster.address
    config = write_config(cluster_config(cameras.url(0), cameras.url(1)), tmp_path / "cams.yaml")
    try:
        up = cli(address, "up", str(config))
        assert up.returncode == 0, up.stderr
        assert "cluster up: 2 cameras in 1 groups; dashboard at http://127.0.0.1:" in up.stdout
        again = cli(address, "up", str(config))
        assert_one_line_error(again, "already running")
        wait_until(address, "both cameras live", lambda c: all(map(flowing, c.values())))

        status = cli(address, "status", "--json")
        assert status.returncode == 0, status.stderr
        doc = json.loads(status.stdout)
        for cam in doc["cameras"]:
            assert {"name", "group", "node", "health", "fps", "frame_age_ms"} <= cam.keys()
            assert cam["group"] == "g1" and len(cam["node"]) == 56 and int(cam["node"], 16) >= 0
        table = cli(address, "status").stdout
        assert table.splitlines()[0].split()[:4] == ["CAMERA", "GROUP", "NODE", "HEALTH"]
        assert "cam0" in table and "dashboard: http://" in table

        added = cli(address, "add", "door", cameras.url(2))
        assert added.returncode == 0 and "camera door added" in added.stdout, added.stderr
        assert_one_line_error(cli(address, "add", "door", cameras.url(3)), "'door' is already in the cluster")
        refused = cli(address, "add", "nowhere", f"rtsp://127.0.0.1:{free_port()}/x")
        assert refused.returncode == 2
        assert_one_line_error(refused, "127.0.0.1")
        cams = wait_until(address, "door live", lambda c: flowing(c["door"]))
        assert cams["door"]["group"] == "g2"  # g1 is full at cameras_per_group=2
        removed = cli(address, "remove", "door")
        assert removed.returncode == 0 and "recording is finalized" in removed.stdout
        assert_one_line_error(cli(address, "remove", "door"), "no camera named 'door'")
        assert sorted(cameras_by_name(address)) == ["cam0", "cam1"]
    finally:
        down = cli(address, "down")
    assert down.returncode == 0, down.stderr
    assert "nothing of ours left running" in down.stdout
    recorded = [line.split("recorded ", 1)[1] for line in down.stdout.splitlines() if "recorded " in line]
    assert sorted(Path(p).name.split("_")[1] for p in recorded) == ["cam0", "cam1"]
    import ray

    from streamseg.cluster import client

    assert client.ours(ray) == [] and our_processes() == []
    assert_one_line_error(cli(address, "status"), "no streamseg cluster is running")
