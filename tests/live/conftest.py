"""Fixtures for the live-source tests: a real GStreamer RTSP server, and the CLI run against it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streamseg.testing.rtsp import RtspServer, gst_rtsp_available
from tests.cli.test_main import OFFLINE_ENV

APT = (
    "apt-get install -y gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-rtsp "
    "gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly"
)


@pytest.fixture(scope="session")
def gst_ok() -> None:
    why = gst_rtsp_available()
    if why is not None:
        pytest.fail(f"the RTSP tests need GStreamer's RTSP server ({why}); install it: {APT}")


@pytest.fixture
def rtsp_server(gst_ok: None) -> Iterator[RtspServer]:
    with RtspServer(mounts=2) as server:
        yield server


class LiveRun:
    """``streamseg run`` in a subprocess with results, telemetry (and optionally a recording) files."""

    def __init__(self, tmp: Path, sources: list[str], model_args: list[str], *extra: str) -> None:
        self.rec, self.res, self.tel = tmp / "out.mp4", tmp / "r.jsonl", tmp / "t.jsonl"
        cmd = [sys.executable, "-m", "streamseg", "run", *sources, *model_args, "-v"]
        cmd += ["--save-results", str(self.res), "--telemetry", str(self.tel), *extra]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=OFFLINE_ENV
        )
        self.stderr = ""

    def results(self) -> list[dict[str, Any]]:
        if not self.res.exists():
            return []
        lines = self.res.read_text().splitlines()
        return [json.loads(line) for line in lines if line.endswith("}")]

    def count(self, source: str | None = None) -> int:
        return sum(1 for r in self.results() if source is None or r["source"] == source)

    def snapshots(self) -> list[dict[str, Any]]:
        if not self.tel.exists():
            return []
        return [json.loads(line) for line in self.tel.read_text().splitlines() if line.endswith("}")]

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float) -> float:
        """Poll until ``predicate()``; returns when it became true. Fails (with stderr) on timeout/exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return time.monotonic()
            if self.proc.poll() is not None:
                pytest.fail(f"streamseg exited ({self.proc.returncode}) waiting for {what}: {self.finish()}")
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"timed out after {timeout:g} s waiting for {what}; stderr: {self.stderr[-2000:]}")

    def stop(self, sig: int = signal.SIGINT) -> float:
        """Send ``sig`` and wait; returns how long the process took to exit."""
        sent = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.finish()
        return time.monotonic() - sent

    def finish(self, timeout: float = 15) -> str:
        try:
            _, self.stderr = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, self.stderr = self.proc.communicate()
        return self.stderr


@pytest.fixture
def live_run(tmp_path: Path, random_seg_onnx: Path, engines_dir: Path) -> Iterator[Callable[..., LiveRun]]:
    runs: list[LiveRun] = []
    model = ["--model", str(random_seg_onnx), "--engines-dir", str(engines_dir), "--imgsz", "320"]

    def start(sources: list[str], *extra: str) -> LiveRun:
        run = LiveRun(tmp_path, sources, model, *extra)
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.proc.poll() is None:
            run.proc.kill()
            run.finish()
