"""Soak test: N RTSP cameras for a long time, with chaos, watching memory, latency and hangs.

One GStreamer RTSP server (``tests/live/rtsp_server.py``, run by Debian's python3 with gi) serves N
mounts. streamseg runs in this process through its Python API (recording every camera, one results
stream) while a chaos thread randomly kills the server (down 1-5 s, then restarted on the same port)
or freezes it with SIGSTOP (3-8 s, then SIGCONT). A watchdog flags a hang when a camera yields no
frame for ``--hang-s`` seconds while the server is up and not frozen. At the end the run is stopped
the way Ctrl-C does, and that must take under 3 s.

    .venv/bin/python tools/soak_rtsp.py --cameras 4 --duration 600 --imgsz 320

Prints frames processed, reconnects, p50/p99 frame age (capture to result), RSS at start (median of
the minute after ``--warmup-s``) and end (median of the last minute), and whether anything hung;
exits 1 if a target is missed (RSS growth < 2 %, no hang, p99 frame age < 1 s). Where memory went is
broken down the same way (``memory_breakdown.py``: anonymous vs file pages, glibc heap in use vs
free); ``--samples`` keeps the whole 5 s series and ``--no-record`` takes the encoders out of the run.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import threading
import time
from array import array
from collections import Counter
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from streamseg import Pipeline  # noqa: E402
from streamseg.allocator import limit_malloc_arenas  # noqa: E402
from streamseg.config import Config, LiveConfig, ModelConfig, OutputConfig, PipelineConfig, SourceConfig  # noqa: E402
from streamseg.inference.model_files import resolve_model  # noqa: E402
from tests.live.server import RtspServer  # noqa: E402
from tools.memory_breakdown import memory_breakdown  # noqa: E402

DEFAULT_MODEL = str(REPO.parent / "shared" / "assets" / "models" / "yolov8n-seg-fixture.pt")


class Chaos(threading.Thread):
    """Random kills and freezes of the one server; remembers when it was last disturbed."""

    def __init__(self, server: RtspServer, every_s: float, stop: threading.Event, seed: int) -> None:
        super().__init__(name="chaos", daemon=True)
        self.server, self.every_s, self.stop = server, every_s, stop
        self.rng = random.Random(seed)
        self.events: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.healthy_since = time.monotonic()  # server up and running since

    def run(self) -> None:
        while not self.stop.wait(self.rng.uniform(0.5, 1.5) * self.every_s):
            with self.lock:
                self.healthy_since = float("inf")
            if self.rng.random() < 0.5:
                self.events["kill"] += 1
                self.server.kill()
                if self.stop.wait(self.rng.uniform(1, 5)):
                    break
                self.server.start()
            else:
                self.events["freeze"] += 1
                self.server.freeze()
                self.stop.wait(self.rng.uniform(3, 8))
                self.server.resume()
            with self.lock:
                self.healthy_since = time.monotonic()

    def quiet_for(self) -> float:
        with self.lock:
            return max(0.0, time.monotonic() - self.healthy_since)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--duration", type=float, default=600, help="seconds (default: 600)")
    parser.add_argument("--chaos-every", type=float, default=30, help="mean seconds between chaos events")
    parser.add_argument("--size", default="320x240", help="camera frame size")
    parser.add_argument("--fps", type=int, default=15, help="camera frame rate")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="-seg .pt (exported once) or .onnx")
    parser.add_argument("--engines-dir", default=str(REPO / "engines"))
    parser.add_argument("--timeout", type=float, default=3.0, help="source timeout (stall -> reconnect)")
    parser.add_argument("--hang-s", type=float, default=20.0, help="no frame this long while healthy = hang")
    parser.add_argument("--warmup-s", type=float, default=60.0, help="RSS baseline taken after this long")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-record", action="store_true", help="do not record (default: 2 min segments)")
    parser.add_argument("--samples", metavar="OUT.jsonl", help="write the 5 s memory samples here")
    parser.add_argument("--default-malloc", action="store_true", help="no malloc arena cap (comparison)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    if not args.default_malloc:
        limit_malloc_arenas()  # what `streamseg run` does

    model = resolve_model(args.model, Path(args.engines_dir))
    server = RtspServer(mounts=args.cameras, size=args.size, fps=args.fps)
    server.start()
    out_dir = Path(tempfile.mkdtemp(prefix="soak_"))
    cfg = Config(
        sources=tuple(SourceConfig(server.url(i)) for i in range(args.cameras)),
        model=ModelConfig(
            path=str(model), imgsz=args.imgsz, batch=args.cameras, engines_dir=args.engines_dir
        ),
        output=OutputConfig(record=None if args.no_record else str(out_dir / "soak.mp4"), segment="2m"),
        pipeline=PipelineConfig(source_timeout_s=args.timeout),
        live=LiveConfig(),
    )
    proc = psutil.Process()
    stop = threading.Event()
    chaos = Chaos(server, args.chaos_every, stop, args.seed)
    pipeline = Pipeline(config=cfg)
    ages = array("d")  # 8 bytes a frame: the tool's own growth must not show up as the pipeline's
    counts: Counter[str] = Counter()
    last_seen: dict[str, float] = {}
    hangs: list[str] = []
    samples: list[tuple[float, dict[str, int]]] = []  # every 5 s: (elapsed, rss + memory_breakdown())
    next_sample = 0.0
    rss_first = proc.memory_info().rss
    started = time.monotonic()
    elapsed = 0.0
    next_report = 60.0
    chaos.start()
    try:
        for result in pipeline.results():
            now = time.monotonic()
            ages.append(now - result.frame.capture_time)
            counts[result.source] += 1
            last_seen[result.source] = now
            elapsed = now - started
            if elapsed >= next_sample:
                next_sample += 5.0
                samples.append((elapsed, {"rss": proc.memory_info().rss, **memory_breakdown()}))
            if chaos.quiet_for() > args.hang_s:
                for src in pipeline.sources:
                    silent = now - last_seen.get(src.name, started)
                    if silent > args.hang_s and src.name not in hangs:
                        hangs.append(src.name)
                        print(f"HANG? {src.name}: no frame for {silent:.0f} s while the server was healthy")
            if elapsed >= args.duration:
                break
            if elapsed >= next_report:
                next_report += 60
                parts = ", ".join(f"{k} {_fmt(k, v)}" for k, v in samples[-1][1].items())
                print(f"[{elapsed:5.0f} s] frames {counts.total()}, {parts}", flush=True)
    finally:
        stop.set()
        rss_end = proc.memory_info().rss
        snapshot = pipeline.telemetry.snapshot()
        t0 = time.monotonic()
        pipeline.stop()
        try:
            pipeline.join()
        except Exception as exc:
            print(f"pipeline error: {exc}")
        stop_s = time.monotonic() - t0
        chaos.join(timeout=10)
        server.stop()
    stuck = [t.name for t in threading.enumerate() if t.name.startswith(("inference", "render"))]
    files = sorted(out_dir.glob("*.mp4"))
    size_mb = sum(f.stat().st_size for f in files) / 2**20
    for f in files:
        f.unlink()
    out_dir.rmdir()

    a = np.asarray(ages) if ages else np.zeros(1)
    p50, p99 = (float(v) for v in np.percentile(a, [50, 99]))
    reconnects = {n: s.get("reconnects", 0) for n, s in snapshot["sources"].items()}
    # Allocator noise is +-10 % sample to sample, so compare medians of one minute after the warm-up
    # and of the last minute: a leak shows as a trend, not as one high sample.
    after = [m["rss"] for t, m in samples if args.warmup_s <= t < args.warmup_s + 60] or [rss_first]
    last = [m["rss"] for t, m in samples if t >= elapsed - 60] or [rss_end]
    base, tail = float(np.median(after)), float(np.median(last))
    growth = (tail - base) / base * 100
    hung = bool(hangs or stop_s >= 3.0 or stuck)
    print()
    print(
        f"soak: {args.cameras} RTSP cameras {args.size}@{args.fps}, imgsz {args.imgsz}, {args.duration:.0f} s"
    )
    print(f"chaos events: {dict(chaos.events)}")
    print(f"frames processed: {counts.total()} ({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))})")
    print(f"frames dropped (newest-frame policy): {snapshot['total']['dropped']}")
    print(f"reconnects: {reconnects}")
    print(f"frame age (capture -> result): p50 {p50 * 1e3:.0f} ms, p99 {p99 * 1e3:.0f} ms", end="")
    print(f", max {a.max() * 1e3:.0f} ms")
    print(
        f"RSS: {rss_first / 2**20:.1f} MiB at start, "
        f"{base / 2**20:.1f} MiB in the minute after a {args.warmup_s:.0f} s warm-up, "
        f"{tail / 2**20:.1f} MiB over the last minute ({growth:+.2f} %; medians), "
        f"{rss_end / 2**20:.1f} MiB at the very end"
    )
    print("memory breakdown (median of the minute after warm-up -> median of the last minute):")
    for key in samples[-1][1] if samples else ():
        first = [m[key] for t, m in samples if args.warmup_s <= t < args.warmup_s + 60 and key in m]
        final = [m[key] for t, m in samples if t >= elapsed - 60 and key in m]
        if first and final:
            a0, a1 = float(np.median(first)), float(np.median(final))
            print(f"  {key:10s} {_fmt(key, a0)} -> {_fmt(key, a1)} ({_fmt(key, a1 - a0, sign=True)})")
    if args.samples:
        with open(args.samples, "w") as f:
            f.writelines(json.dumps({"t": round(t, 1), **m}) + "\n" for t, m in samples)
        print(f"memory samples (every 5 s): {args.samples}")
    print(f"recordings: {len(files)} segment files, {size_mb:.1f} MiB")
    print(f"stop took {stop_s:.2f} s; hung: {'YES ' + str(hangs or stuck) if hung else 'no'}")
    ok = growth < 2.0 and not hung and p99 < 1.0
    print("targets (RSS growth < 2 %, no hang, p99 frame age < 1 s):", "met" if ok else "MISSED")
    return 0 if ok else 1


def _fmt(key: str, value: float, sign: bool = False) -> str:
    """A ``memory_breakdown`` value for people: MiB, or a plain count for threads."""
    plus = "+" if sign else ""
    return f"{value:{plus}.0f}" if key == "threads" else f"{value / 2**20:{plus}.1f} MiB"


if __name__ == "__main__":
    sys.exit(main())
