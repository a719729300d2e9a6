"""``bench_cameras``' figures: one camera's and one run's figures over the window, and how they are
found from what the workers wrote (their results, their recordings decoded with PyAV), with the
verdict: a setup holds unless a camera starves, a recording is short or p95 latency is over 1 s.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.cameras_streams import Mount

HELD_SHARE = 0.95  # processed / needed frames, recorded / sent frames
LATENCY_LIMIT_S = 1.0


@dataclass
class Setup:
    """What every run shares: the model, the clocks, where to work, the peer's python."""

    model: str
    peer_model: str
    imgsz: int
    conf: float
    detect_fps: float
    engines_dir: str
    warmup_s: float
    window_s: float
    start_timeout_s: float
    peer_python: str | None
    work: Path
    extra: list[str]
    keep: bool


@dataclass
class Camera:
    """One camera's figures over the window."""

    name: str
    activity: str
    fps: float  # frames per second the camera sends
    need_fps: float  # frames per second its side must process to keep up
    processed_fps: float = 0.0
    inferred_fps: float = 0.0
    still_fps: float = 0.0
    p95_s: float | None = None
    results: int = 0  # results that came out over the whole connection
    recorded_total: int | None = None  # frames in its recording (None: none, or unreadable)
    # streamseg: frames the camera sent during the window (from the stream timestamps of the results
    # that came out in it: frames that never came out count too) and those of them in the recording;
    # the peer: the frames it inferred over the whole connection and its recording's frames
    sent: int | None = None
    recorded: int | None = None


@dataclass
class Run:
    side: str
    n: int
    label: str
    window_s: float
    cameras: list[Camera] = field(default_factory=list)
    p95_s: float | None = None
    latency_known: float = 1.0  # share of inferred frames whose latency is known
    cpu_s: float | None = None  # CPU seconds of the side's processes in the window
    server_cpu_s: float | None = None
    box_busy: float | None = None  # share of the whole machine's CPU that was busy in the window
    load: float | None = None
    reasons: list[str] = field(default_factory=list)
    stages_ms: dict[str, float] = field(default_factory=dict)  # p50 per frame (the peer: median of cameras)
    started_s: float | None = None  # from launch to the last camera's first result

    @property
    def held(self) -> bool:
        return not self.reasons

    @property
    def cpu_pct(self) -> float | None:
        return None if self.cpu_s is None else 100 * self.cpu_s / self.window_s


def vid_stride(fps: float, detect_fps: float) -> int:
    """Ultralytics' ``vid_stride`` for the same detect rate: 30 fps -> 6, 25 fps -> 5 at 5 a second."""
    return max(1, round(fps / detect_fps))


def analyse(
    run: Run,
    mounts: Sequence[Mount],
    outputs: Sequence[dict[str, Any]],
    window: tuple[float, float],
    setup: Setup,
) -> None:
    """Fill ``run`` from the workers' ``outputs`` (their PREFIX.json) over ``window`` (monotonic times),
    with the reasons it does not hold."""
    import numpy as np

    if run.reasons or not run.window_s or window[1] <= 0:
        return
    # The streamseg worker names its sources itself (cam0 ... from the URL); the order is the mounts'.
    names: dict[str, Mount] = {}
    rows: list[list[Any]] = []
    recordings: dict[str, str] = {}
    stage_values: dict[str, list[float]] = {}
    for output in outputs:
        rows.extend(output["rows"])
        recordings.update(output["recordings"])
        for key, value in output.get("stages_ms", {}).items():
            stage_values.setdefault(key, []).append(float(value))
    run.stages_ms = {k: statistics.median(v) for k, v in stage_values.items()}
    if run.side == "streamseg":
        names = dict(zip(outputs[0]["sources"], mounts, strict=False))
    else:
        names = {m.name: m for m in mounts}
    start, end = window
    latencies: list[float] = []
    unknown = 0
    for name, mount in names.items():
        mine = [r for r in rows if r[1] == name]
        fps = mount.cycle.fps
        need = fps if run.side == "streamseg" else fps / vid_stride(fps, setup.detect_fps)
        cam = Camera(mount.name, mount.cycle.activity, fps, need, results=len(mine))
        inside = [r for r in mine if start <= r[0] < end]
        cam.processed_fps = len(inside) / run.window_s
        inferred = [r for r in inside if r[2] == "inferred"]
        cam.inferred_fps = len(inferred) / run.window_s
        cam.still_fps = sum(1 for r in inside if r[2] == "still") / run.window_s
        known = [float(r[3]) for r in inferred if r[3] is not None]
        unknown += len(inferred) - len(known)
        latencies += known
        if known:
            cam.p95_s = float(np.percentile(known, 95))
        times = recording_times(Path(recordings[name])) if name in recordings else None
        cam.recorded_total = None if times is None else len(times)
        if run.side == "streamseg" and inside and mine[0][4] is not None:
            # the recording's clock is the stream's, started at the first frame that came out
            p0, p1 = float(inside[0][4]), float(inside[-1][4])
            cam.sent = round((p1 - p0) * fps) + 1
            if times:
                shift = float(mine[0][4]) - times[0]
                half = 0.5 / fps
                cam.recorded = sum(1 for t in times if p0 - half <= t + shift <= p1 + half)
        elif run.side != "streamseg":
            cam.sent, cam.recorded = len(mine), cam.recorded_total  # it records what it infers
        run.cameras.append(cam)
        if cam.processed_fps < HELD_SHARE * need:
            run.reasons.append(f"{mount.name} starved ({cam.processed_fps:.2f} of {need:.2f} fps)")
        if cam.sent and (cam.recorded or 0) < HELD_SHARE * cam.sent:
            run.reasons.append(f"{mount.name} recording {cam.recorded} of {cam.sent} frames")
    if latencies:
        run.p95_s = float(np.percentile(latencies, 95))
        run.latency_known = len(latencies) / (len(latencies) + unknown)
    if run.p95_s is not None and run.p95_s > LATENCY_LIMIT_S:
        run.reasons.append(f"p95 latency {run.p95_s * 1e3:.0f} ms > {LATENCY_LIMIT_S * 1e3:.0f} ms")
    if unknown and run.latency_known < 0.5:
        run.reasons.append(f"latency unknown for {unknown} inferred frames")


def recording_times(path: Path) -> list[float] | None:
    """Every frame's time in a recording, decoded with PyAV (None: missing or unreadable)."""
    import av

    if not path.exists():
        return None
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            return [float(f.time or 0.0) for f in container.decode(stream)]
    except (av.FFmpegError, IndexError):
        return None
