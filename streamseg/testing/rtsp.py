"""Start, kill, freeze and restart the GStreamer RTSP server (``rtsp_server.py``) from the tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python, which has ``gi``; the venv's does not
SCRIPT = Path(__file__).with_name("rtsp_server.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gst_rtsp_available() -> str | None:
    """None when the server can run here, else why not (CI installs the packages; see .ci/run)."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found"
    probe = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer; "
            "from gi.repository import Gst; Gst.init(None); "
            "assert Gst.ElementFactory.find('x264enc'), 'x264enc missing'",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    lines = probe.stderr.strip().splitlines()
    return None if probe.returncode == 0 else (lines[-1] if lines else f"exit {probe.returncode}")


class RtspServer:
    """One server process serving ``/cam0`` .. ``/camN-1`` on a fixed port, so it can be restarted."""

    def __init__(
        self,
        mounts: int = 1,
        size: str = "320x240",
        fps: int = 15,
        port: int | None = None,
        auth: str | None = None,
        gop_spread: bool = False,
    ) -> None:
        """``gop_spread``: mount i sends a keyframe every fps + i frames, not every fps, so the mounts'
        keyframes do not all land together (as independent cameras' never do)."""
        self.port = port or free_port()
        self.mounts = mounts
        self.size = size
        self.fps = fps
        self.auth = auth  # "user:password" the server demands, or None
        self.gop_spread = gop_spread
        self.proc: subprocess.Popen[str] | None = None
        self.frozen = False

    def url(self, mount: int = 0, userinfo: str = "") -> str:
        return f"rtsp://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}/cam{mount}"

    def start(self, timeout: float = 20.0) -> float:
        """Start and wait for READY; returns the monotonic time it began accepting connections."""
        cmd = [SYSTEM_PYTHON, str(SCRIPT), "--port", str(self.port), "--mounts", str(self.mounts)]
        cmd += ["--size", self.size, "--fps", str(self.fps)]
        if self.auth:
            cmd += ["--auth", self.auth]
        if self.gop_spread:
            cmd += ["--gop-spread"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise RuntimeError(f"RTSP server exited: {err.strip()[-300:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return time.monotonic()
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("RTSP server did not start")

    def kill(self) -> None:
        """SIGKILL: the camera vanishes without a goodbye (connections reset)."""
        if self.proc is not None:
            if self.frozen:
                self.resume()
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def freeze(self) -> None:
        """SIGSTOP: the camera hangs; TCP stays open and the kernel still accepts connections."""
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGSTOP)
            self.frozen = True

    def resume(self) -> None:
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.frozen = False

    def stop(self) -> None:
        self.kill()

    def __enter__(self) -> RtspServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
