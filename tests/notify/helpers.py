"""Real counterparts for the sinks: a Mosquitto broker process, a paho subscriber and an HTTP receiver."""

from __future__ import annotations

import getpass
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")


def find_binary(name: str) -> str | None:
    """``mosquitto`` lives in /usr/sbin, which a non-root PATH often lacks."""
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(SBIN))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``check`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


class Broker:
    """``mosquitto -c conf`` on 127.0.0.1:``port``; restartable on the same port, optionally with a
    password file and with persistence (so that a persistent subscriber's session survives a restart)."""

    def __init__(self, binary: str, workdir: Path, *, users: dict[str, str] | None = None) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.log = workdir / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"user {getpass.getuser()}",  # as root, mosquitto would drop to 'mosquitto' and lose our files
            "persistence true",
            f"persistence_location {workdir}/",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if users:
            passwd = workdir / "passwd"
            tool = find_binary("mosquitto_passwd") or "mosquitto_passwd"
            for i, (user, password) in enumerate(users.items()):
                create = ["-c"] if i == 0 else []
                subprocess.run([tool, "-b", *create, str(passwd), user, password], check=True)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def url(self, userinfo: str = "", prefix: str = "") -> str:
        at = f"{userinfo}@" if userinfo else ""
        return f"mqtt://{at}127.0.0.1:{self.port}" + (f"/{prefix}" if prefix else "")

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM: the broker goes away (every connection drops) and saves its sessions."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


@dataclass
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """A paho client collecting every message on ``topic`` (QoS 1); ``persistent`` keeps its session
    (and what the broker queues for it) across its own reconnects and a broker restart."""

    def __init__(
        self, broker: Broker, topic: str, *, persistent: bool = False, auth: tuple[str, str] | None = None
    ):
        self.topic = topic
        self.messages: list[Received] = []
        self.subscribed = threading.Event()
        self._lock = threading.Lock()
        client_id = f"test-sub-{uuid.uuid4().hex[:8]}"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent
        )
        if auth:
            self.client.username_pw_set(*auth)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert self.subscribed.wait(5), "subscriber got no SUBACK"

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Received(msg.topic, msg.payload, msg.qos, bool(msg.retain)))

    def on(self, topic: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def payloads(self, topic: str) -> list[str]:
        return [m.payload.decode() for m in self.on(topic)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Receiver:
    """An HTTP server on 127.0.0.1 answering each POST with the next status from ``statuses`` (then
    200), recording the JSON bodies it answered 2xx to, in order."""

    def __init__(self, statuses: list[int] | None = None, port: int = 0, delay_first_s: float = 0.0) -> None:
        self.statuses = list(statuses or [])
        self.delay_first_s = delay_first_s
        self.bodies: list[Any] = []
        self.requests = 0
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []  # the path (and query) of each request, as sent
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.requests += 1
                    first = receiver.requests == 1
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.headers.append(dict(self.headers.items()))
                    receiver.paths.append(self.path)
                if first and receiver.delay_first_s:
                    time.sleep(receiver.delay_first_s)
                if 200 <= status < 300:
                    with receiver._lock:
                        receiver.bodies.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                """Quiet."""

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
