"""``bench_cameras``' one run: N cameras on one side, with fresh processes and a fresh camera server
(``tools.cameras_server``, under Debian's python3); the side's CPU, the server's and the whole box's
over the window, then the figures (``tools.cameras_figures``).

Streamseg is one worker process for all N cameras (``tools.cameras_worker``, through
``python -m tools.bench_cameras --streamseg-worker``); Ultralytics is one process per camera, in the
peer's python, ``tools/cameras_peer.py`` run by path.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tools import cameras_peer, cameras_server
from tools.cameras_figures import Run, Setup, analyse, vid_stride
from tools.cameras_streams import Mount

if TYPE_CHECKING:
    import psutil

SERVER_FILE = Path(cameras_server.__file__).resolve()
PEER_FILE = Path(cameras_peer.__file__).resolve()


class ClipServer:
    """``tools.cameras_server`` in its own process (Debian's python3, which has gi), on a free port."""

    def __init__(self, mounts: Sequence[Mount], work: Path) -> None:
        from streamseg.testing.rtsp import free_port

        self.port = free_port()
        self.mounts = list(mounts)
        self.spec = work / "server.json"
        self.log = work / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, mount: Mount) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{mount.name}"

    def start(self, timeout: float = 30.0) -> None:
        import socket

        from streamseg.testing.rtsp import SYSTEM_PYTHON

        mounts = [
            {
                "name": m.name,
                "h264": m.cycle.h264,
                "sizes": m.cycle.sizes,
                "fps": [m.cycle.fps_num, m.cycle.fps_den],
                "start": m.start,
            }
            for m in self.mounts
        ]
        self.spec.write_text(json.dumps({"port": self.port, "mounts": mounts}))
        with self.log.open("wb") as log:
            cmd = [SYSTEM_PYTHON, str(SERVER_FILE), "--serve", str(self.spec)]
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"camera server exited: {_tail(self.log)}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("camera server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def __enter__(self) -> ClipServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_side(side: str, mounts: Sequence[Mount], setup: Setup, label: str, window_s: float) -> Run:
    """N cameras on one side, fresh processes and a fresh server; the figures over the window."""
    import psutil

    n = len(mounts)
    run = Run(side, n, label, window_s)
    work = Path(tempfile.mkdtemp(prefix=f"{side}-{label}-", dir=setup.work))
    limit_s = setup.start_timeout_s + setup.warmup_s + window_s + 120
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    window = (0.0, 0.0)
    try:
        with ClipServer(mounts, work) as server:
            launched = time.monotonic()
            if side == "streamseg":
                procs.append(_launch_streamseg(mounts, server, setup, work, limit_s))
            else:
                procs.extend(_launch_peer(m, server, setup, work, limit_s) for m in mounts)
            ready = _wait_ready(procs, setup.start_timeout_s + 10 * n, run)
            if ready is not None:
                run.started_s = ready - launched
                window = (ready + setup.warmup_s, ready + setup.warmup_s + window_s)
                handles = [psutil.Process(p.pid) for p, _ in procs]
                serving = [psutil.Process(server.proc.pid)] if server.proc else []
                _sleep_until(window[0])
                before = _cpu(handles), _cpu(serving), psutil.cpu_times()
                _sleep_until(window[1])
                after = _cpu(handles), _cpu(serving), psutil.cpu_times()
                run.load = os.getloadavg()[0]
                run.cpu_s = after[0] - before[0]
                run.server_cpu_s = after[1] - before[1]
                run.box_busy = _busy(before[2], after[2])
            _stop(procs, grace_s=60 + 5 * n)
    except (RuntimeError, OSError) as exc:
        run.reasons.append(str(exc))
        return run
    finally:
        for proc, _ in procs:
            _kill(proc)
    analyse(run, mounts, _outputs(run, procs), window, setup)
    if not setup.keep:
        for path in work.glob("*.mp4"):
            path.unlink()
    return run


def _launch_streamseg(
    mounts: Sequence[Mount], server: ClipServer, setup: Setup, work: Path, limit_s: float
) -> tuple[subprocess.Popen[bytes], Path]:
    from tools.common import child_env, tool_command

    prefix = work / "streamseg"
    argv = [server.url(m) for m in mounts]
    argv += ["--detect-fps", f"{setup.detect_fps:g}", "--motion", "--record", str(work / "rec.mp4")]
    argv += ["--model", setup.model, "--engines-dir", setup.engines_dir]
    argv += ["--imgsz", str(setup.imgsz), "--conf", f"{setup.conf:g}", "-q"]
    if len(mounts) > 16:  # the CLI's default cap is 8 per core, at least 16
        argv += ["--max-sources", str(len(mounts))]
    argv += setup.extra
    cmd = tool_command("bench_cameras", "--streamseg-worker", str(prefix), "--limit-s", f"{limit_s:.0f}")
    with (work / "streamseg.log").open("wb") as log:
        proc = subprocess.Popen([*cmd, "--", *argv], stdout=log, stderr=subprocess.STDOUT, env=child_env())
    return proc, prefix


def _launch_peer(
    mount: Mount, server: ClipServer, setup: Setup, work: Path, limit_s: float
) -> tuple[subprocess.Popen[bytes], Path]:
    if setup.peer_python is None:
        raise RuntimeError("no peer python")
    prefix = work / f"peer-{mount.name}"
    cmd = [setup.peer_python, str(PEER_FILE), "--peer-worker", str(prefix), "--camera", mount.name]
    cmd += ["--source", server.url(mount), "--model", setup.peer_model, "--imgsz", str(setup.imgsz)]
    cmd += ["--conf", f"{setup.conf:g}", "--vid-stride", str(vid_stride(mount.cycle.fps, setup.detect_fps))]
    cmd += ["--fps", f"{mount.cycle.fps:.6f}", "--limit-s", f"{limit_s:.0f}"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(
        YOLO_AUTOINSTALL="false",
        YOLO_OFFLINE="true",
        YOLO_VERBOSE="false",
        OPENCV_FFMPEG_CAPTURE_OPTIONS="rtsp_transport;tcp",
    )
    with prefix.with_suffix(".log").open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
    return proc, prefix


def _wait_ready(
    procs: Sequence[tuple[subprocess.Popen[bytes], Path]], timeout: float, run: Run
) -> float | None:
    """The monotonic time the last worker had a result from each of its cameras; None (and the reason
    in ``run``) when one exits or does not get there within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        times = []
        for proc, prefix in procs:
            ready = prefix.with_suffix(".ready")
            if ready.exists() and ready.read_text():
                times.append(float(ready.read_text()))
            elif proc.poll() is not None:
                run.reasons.append(f"{prefix.name} exited ({proc.returncode}): {_tail(_log_of(prefix))}")
                return None
        if len(times) == len(procs):
            return max(times)
        if time.monotonic() > deadline:
            run.reasons.append(f"{len(procs) - len(times)} of {len(procs)} not started in {timeout:.0f} s")
            return None
        time.sleep(0.2)


def _log_of(prefix: Path) -> Path:
    return prefix.with_suffix(".log")


def _stop(procs: Sequence[tuple[subprocess.Popen[bytes], Path]], grace_s: float) -> None:
    for _, prefix in procs:
        prefix.with_suffix(".stop").touch()
    deadline = time.monotonic() + grace_s
    for proc, _ in procs:
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill(proc)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def _sleep_until(t: float) -> None:
    while (left := t - time.monotonic()) > 0:
        time.sleep(min(left, 1.0))


def _cpu(handles: Sequence[psutil.Process]) -> float:
    import psutil

    total = 0.0
    for h in handles:
        with contextlib.suppress(psutil.Error):
            t = h.cpu_times()
            total += t.user + t.system
    return total


def _busy(before: Any, after: Any) -> float | None:
    idle = (after.idle + getattr(after, "iowait", 0)) - (before.idle + getattr(before, "iowait", 0))
    total = sum(after) - sum(before)
    return None if total <= 0 else 1 - idle / total


def _outputs(run: Run, procs: Sequence[tuple[subprocess.Popen[bytes], Path]]) -> list[dict[str, Any]]:
    """What each worker wrote (its PREFIX.json); a worker that wrote nothing is a reason in ``run``."""
    outputs: list[dict[str, Any]] = []
    for proc, prefix in procs:
        out = prefix.with_suffix(".json")
        if not out.exists():
            run.reasons.append(
                f"{prefix.name} wrote no results (exit {proc.returncode}): {_tail(_log_of(prefix))}"
            )
            continue
        outputs.append(json.loads(out.read_text()))
    return outputs


def _tail(path: Path, lines: int = 1) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return " | ".join(text[-lines:])[-300:] or "no output"
