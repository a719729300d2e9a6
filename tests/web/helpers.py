"""Shared by the dashboard tests: a proxy-free HTTP client, the CLI with --dashboard, Prometheus."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
]
# No proxies: every request in these tests goes to this machine.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
CLEAN_ENV = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 15) -> Reply:
    return send("GET", url, headers=headers, timeout=timeout)


def send(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 15,
) -> Reply:
    """One request; ``body`` is sent as JSON unless it is already bytes."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    head = {"Content-Type": "application/json"} if data is not None and not isinstance(body, bytes) else {}
    request = urllib.request.Request(url, data=data, method=method, headers={**head, **(headers or {})})
    try:
        with _OPENER.open(request, timeout=timeout) as r:
            return Reply(r.status, dict(r.headers), r.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, dict(exc.headers), exc.read())


def serve_bytes(body: bytes, content_type: str) -> http.server.ThreadingHTTPServer:
    """A loopback HTTP server answering every GET (any path, any query) with ``body``; ``shutdown()`` it."""

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            """Quiet."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def need(binary: str) -> str:
    """System tools are part of the test setup (CI installs them): missing is a failure, not a skip."""
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed (apt-get install {binary})")
    return path


@dataclass
class Run:
    url: str
    proc: subprocess.Popen[str]


@contextmanager
def cli_dashboard(args: Sequence[str], env: dict[str, str] | None = None) -> Iterator[Run]:
    """``streamseg run ARGS`` (with a ``--dashboard``); yields its page URL and process, stops with SIGINT."""
    cmd = [sys.executable, "-m", "streamseg", "run", *args]
    proc = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env={**CLEAN_ENV, **(env or {})}
    )
    try:
        yield Run(_wait_for_url(proc), proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(2)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def _wait_for_url(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if "dashboard at " in line:
            return line.split("dashboard at ", 1)[1].strip()
    proc.kill()
    pytest.fail("streamseg did not start its dashboard:\n" + "".join(lines))


@contextmanager
def prometheus(target: str, tmp: Path) -> Iterator[str]:
    """A real Prometheus scraping ``target`` (host:port) every second; yields its base URL."""
    binary = need("prometheus")
    port = free_port()
    config = tmp / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: streamseg\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    log = (tmp / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=CLEAN_ENV,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def query(prom: str, promql: str) -> list[dict[str, Any]]:
    """Instant PromQL query; [] until Prometheus is up and has data."""
    try:
        reply = get(f"{prom}/api/v1/query?query={urllib.request.quote(promql)}", timeout=5)
    except OSError:
        return []
    if reply.status != 200:
        return []
    result: list[dict[str, Any]] = reply.json()["data"]["result"]
    return result
