"""``bench_cameras``' Ultralytics side: one camera as Ultralytics' users run it, and the worker protocol
that both sides' workers follow.

Runs by path in the peer's own venv, which has no streamseg::

    PEER_PYTHON tools/cameras_peer.py --peer-worker PREFIX --camera NAME --source RTSP_URL \\
        --model MODEL --imgsz 640 --conf 0.25 --vid-stride K --fps FPS --limit-s S

so its module-level imports are the standard library only (``cv2`` and ``ultralytics`` are imported
in the worker), and nothing from streamseg or ``tools``. The streamseg worker
(``tools.cameras_worker``) imports the protocol helpers from here.

THE PROTOCOL. A worker (``PREFIX``) writes PREFIX.ready (the monotonic time it had a result from every
camera), stops soon after PREFIX.stop appears, and writes PREFIX.json: every result as [t_out, camera,
inference, latency_s | null, pts | null], the recordings by camera, and what it is. time.monotonic()
is the same clock in every process of this machine (Linux CLOCK_MONOTONIC).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any


def watch_stop(stop_file: Path, stop: Callable[[], None], limit_s: float) -> None:
    """Call ``stop`` once ``stop_file`` appears or ``limit_s`` s have passed (a daemon thread)."""

    def watch() -> None:
        deadline = time.monotonic() + limit_s
        while not stop_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        stop()

    threading.Thread(target=watch, name="bench-stop", daemon=True).start()


def write_json(path: Path, data: dict[str, Any]) -> None:
    """``data`` to ``path`` as JSON, atomically (a reader never sees half a file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def peer_worker(a: argparse.Namespace) -> int:
    """One camera as Ultralytics' users run it: predict(stream=True, vid_stride=K), plot, VideoWriter.

    Runs in the peer's venv: nothing from streamseg or tools. A frame's capture time is when OpenCV
    handed it over in Ultralytics' reader thread (``retrieve``/``read``; decoding happened just before,
    in ``grab``), found again through the identity of ``Results.orig_img``, which is that very array.
    """
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_OFFLINE", "true")
    import cv2
    from ultralytics import YOLO  # type: ignore[attr-defined]

    prefix = Path(a.peer_worker)
    stamps: OrderedDict[int, float] = OrderedDict()
    lock = threading.Lock()

    def stamp(got: Any) -> Any:
        ok, image = got
        if ok and image is not None:
            with lock:
                stamps[id(image)] = time.monotonic()
                while len(stamps) > 256:
                    stamps.popitem(last=False)
        return got

    class TimedCapture(cv2.VideoCapture):
        def retrieve(self, *args: Any, **kwargs: Any) -> Any:
            return stamp(super().retrieve(*args, **kwargs))

        def read(self, *args: Any, **kwargs: Any) -> Any:
            return stamp(super().read(*args, **kwargs))

    cv2.VideoCapture = TimedCapture  # type: ignore[misc]  # what Ultralytics' loader opens
    model = YOLO(a.model, task="segment")
    stop = threading.Event()
    watch_stop(prefix.with_suffix(".stop"), stop.set, a.limit_s)
    rows: list[tuple[float, str, str, float | None, None]] = []
    writer = None
    out = str(prefix.with_suffix(".mp4"))
    results: Iterable[Any] = model.predict(
        source=a.source,
        stream=True,
        vid_stride=a.vid_stride,
        imgsz=a.imgsz,
        conf=a.conf,
        device="cpu",
        verbose=False,
    )
    stages: dict[str, list[float]] = {
        k: [] for k in ("preprocess", "inference", "postprocess", "plot", "write")
    }
    for r in results:
        with lock:
            captured = stamps.pop(id(r.orig_img), None)
        t_plot = time.perf_counter()
        image = r.plot()
        if writer is None:
            h, w = image.shape[:2]
            writer = cv2.VideoWriter(out, cv2.VideoWriter.fourcc(*"mp4v"), a.fps / a.vid_stride, (w, h))
        t_write = time.perf_counter()
        writer.write(image)
        now = time.monotonic()
        stages["plot"].append((t_write - t_plot) * 1e3)
        stages["write"].append((time.perf_counter() - t_write) * 1e3)
        for key in ("preprocess", "inference", "postprocess"):
            if r.speed.get(key) is not None:
                stages[key].append(float(r.speed[key]))
        rows.append((now, a.camera, "inferred", None if captured is None else now - captured, None))
        if len(rows) == 1:
            prefix.with_suffix(".ready").write_text(repr(now))
        if stop.is_set():
            break
    if writer is not None:
        writer.release()
    write_json(
        prefix.with_suffix(".json"),
        {
            "rows": rows,
            "sources": [a.camera],
            "recordings": {a.camera: out} if writer is not None else {},
            "stages_ms": {k: statistics.median(v) for k, v in stages.items() if v},
            "versions": {n: _version(n) for n in ("ultralytics", "torch", "onnxruntime", "opencv-python")},
        },
    )
    os._exit(0)  # Ultralytics' reader thread may still sit in a network read


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "none"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The worker's arguments (what ``tools.cameras_run`` passes; the defaults ``bench_cameras`` had)."""
    p = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for flag in ("--peer-worker", "--camera", "--source", "--model"):
        p.add_argument(flag)
    p.add_argument("--limit-s", type=float, default=600.0)
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--conf", type=float, default=0.25)
    p.add_argument("--vid-stride", type=int, default=1)
    p.add_argument("--fps", type=float, default=30.0)
    a, _ = p.parse_known_args(argv)
    return a


def main(argv: Sequence[str] | None = None) -> int:
    a = parse_args(argv)
    if not a.peer_worker:
        print("usage: cameras_peer.py --peer-worker PREFIX --camera NAME --source URL ...", file=sys.stderr)
        return 2
    return peer_worker(a)


if __name__ == "__main__":
    sys.exit(main())
