"""Soak test: N RTSP cameras for a long time, with chaos, watching memory, latency and hangs.

One GStreamer RTSP server (``streamseg/testing/rtsp_server.py``, run by Debian's python3 with gi) serves N
mounts. streamseg runs in this process through its Python API (recording every camera, one results
stream) while a chaos thread randomly kills the server (down 1-5 s, then restarted on the same port)
or freezes it with SIGSTOP (3-8 s, then SIGCONT). A watchdog flags a hang when a camera yields no
frame for ``--hang-s`` seconds while the server is up and not frozen. At the end the run is stopped
the way Ctrl-C does, and that must take under 3 s.

    python -m tools.soak_rtsp --cameras 4 --duration 600 --imgsz 320

Prints frames processed, reconnects, p50/p99 frame age (capture to result), RSS at start (median of
the minute after ``--warmup-s``) and end (median of the last minute), and whether anything hung;
exits 1 if a target is missed (RSS growth < 2 %, no hang, p99 frame age < 1 s). Where memory went is
broken down the same way (``tools.memory_breakdown``: anonymous vs file pages, glibc heap in use vs
free); ``--samples`` keeps the whole 5 s series and ``--no-record`` takes the encoders out of the run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import psutil

from streamseg import Pipeline
from streamseg.config import Config, LiveConfig, ModelConfig, OutputConfig, PipelineConfig, SourceConfig
from streamseg.inference.model_files import resolve_model
from streamseg.testing.rtsp import RtspServer
from streamseg.util.allocator import limit_malloc_arenas
from tools.common import ENGINES_DIR, FIXTURE_PT
from tools.memory_breakdown import COUNTS, memory_breakdown


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
    parser.add_argument("--model", default=str(FIXTURE_PT), help="-seg .pt (exported once) or .onnx")
    parser.add_argument("--engines-dir", default=str(ENGINES_DIR))
    parser.add_argument("--timeout", type=float, default=3.0, help="source timeout (stall -> reconnect)")
    parser.add_argument("--hang-s", type=float, default=20.0, help="no frame this long while healthy = hang")
    parser.add_argument("--warmup-s", type=float, default=60.0, help="RSS baseline taken after this long")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-record", action="store_true", help="do not record (default: 2 min segments)")
    parser.add_argument("--samples", metavar="OUT.jsonl", help="write the 5 s memory samples here")
    parser.add_argument("--default-malloc", action="store_true", help="no malloc arena cap (comparison)")
    args = parser.parse_args()
    if args.cameras < 1 or args.duration < 30 or args.fps < 1:
        parser.error("--cameras must be >= 1, --duration >= 30 s and --fps >= 1")
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
    # Everything the tool keeps is allocated (and touched) now: its own growth must not show up as
    # the pipeline's. Frame ages and their times, and a row of memory figures every 5 s.
    frames = Series(int(args.cameras * args.fps * (args.duration + 60) * 1.2), 2)  # (elapsed, age)
    keys = ["rss", *memory_breakdown(), "queued_frames", "queued_results"]
    mem = Series(int(args.duration / SAMPLE_S) + 20, 1 + len(keys))  # (elapsed, *keys)
    recoveries = Recoveries()
    counts: Counter[str] = Counter()
    last_seen: dict[str, float] = {}
    hangs: list[str] = []
    next_sample = 0.0
    rss_first = proc.memory_info().rss
    started = time.monotonic()
    elapsed = 0.0
    next_report = 60.0
    chaos.start()
    try:
        for result in pipeline.results():
            now = time.monotonic()
            elapsed = now - started
            frames.add(elapsed, now - result.frame.capture_time)
            counts[result.source] += 1
            last_seen[result.source] = now
            if elapsed >= next_sample:
                next_sample += SAMPLE_S
                snap = pipeline.telemetry.snapshot()
                reading = {"rss": proc.memory_info().rss, **memory_breakdown(), **_queued(snap["queues"])}
                mem.add(elapsed, *(reading.get(k, 0) for k in keys))
                all_live = all(s.get("health") == "live" for s in snap["sources"].values())
                recoveries.check(elapsed, all_live, chaos.events.total(), chaos.quiet_for(), reading)
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
                row = mem.rows()[-1]
                parts = ", ".join(f"{k} {_fmt(k, v)}" for k, v in zip(keys, row[1:], strict=True))
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

    t_age = frames.rows()
    ages = t_age[:, 1] if len(t_age) else np.zeros(1)
    p50, p99 = (float(v) for v in np.percentile(ages, [50, 99]))
    reconnects = {n: s.get("reconnects", 0) for n, s in snapshot["sources"].items()}
    rows = mem.rows()
    w = args.warmup_s  # "minute 2": the minute after the warm-up; "the last minute": the run's last 60 s
    first_min = (rows[:, 0] >= w) & (rows[:, 0] < w + 60)
    last_min = rows[:, 0] >= elapsed - 60
    if not first_min.any() or not last_min.any():
        first_min = last_min = np.ones(len(rows), bool)
    rss = rows[:, 1 + keys.index("rss")]
    # Allocator noise is +-10 % sample to sample, so compare medians of one minute after the warm-up
    # and of the last minute: a leak shows as a trend, not as one high sample.
    base, tail = float(np.median(rss[first_min])), float(np.median(rss[last_min]))
    growth = _change(base, tail)
    early_p99, late_p99 = _p99_flat(t_age, w, elapsed)
    age_flat = late_p99 <= early_p99 * 1.10
    hung = bool(hangs or stop_s >= 3.0 or stuck)
    print()
    print(
        f"soak: {args.cameras} RTSP cameras {args.size}@{args.fps}, imgsz {args.imgsz}, "
        f"{args.duration:.0f} s, load average at the end {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    print(f"chaos events: {dict(chaos.events)}")
    print(f"frames processed: {counts.total()} ({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))})")
    print(f"frames dropped (newest-frame policy): {snapshot['total']['dropped']}")
    print(f"reconnects: {reconnects}")
    print(f"frame age (capture -> result): p50 {p50 * 1e3:.0f} ms, p99 {p99 * 1e3:.0f} ms", end="")
    print(f", max {ages.max() * 1e3:.0f} ms")
    print(
        f"frame age p99: {early_p99 * 1e3:.0f} ms in minutes 2-7, "
        f"{late_p99 * 1e3:.0f} ms in the last 5 minutes ({_change(early_p99, late_p99):+.1f} %)"
    )
    print(
        f"RSS: {rss_first / 2**20:.1f} MiB at start, "
        f"{base / 2**20:.1f} MiB in minute 2 (after a {w:.0f} s warm-up), "
        f"{tail / 2**20:.1f} MiB in the last minute ({growth:+.2f} %; medians), "
        f"{rss_end / 2**20:.1f} MiB at the very end"
    )
    growth_now = {k: v for k, v in (snapshot.get("memory_growth_bytes_per_hour") or {}).items() if v}
    print(
        "leak watchdog's estimate at the end (telemetry, 30 min window): "
        + (", ".join(f"{k} {v / 2**20:+.1f} MiB/h" for k, v in growth_now.items()) or "none yet (5 min)")
    )
    print("memory breakdown (median of minute 2 -> median of the last minute):")
    for i, key in enumerate(keys):
        a0, a1 = float(np.median(rows[first_min, 1 + i])), float(np.median(rows[last_min, 1 + i]))
        print(f"  {key:14s} {_fmt(key, a0)} -> {_fmt(key, a1)} ({_fmt(key, a1 - a0, sign=True)})")
    queues_ok = _print_queues(rows, keys, first_min, last_min)
    threads_ok = recoveries.report()
    if args.samples:
        with open(args.samples, "w") as out:
            for r in rows:
                values = {k: int(v) for k, v in zip(keys, r[1:], strict=True)}
                out.write(json.dumps({"t": round(float(r[0]), 1), **values}) + "\n")
        print(f"memory samples (every {SAMPLE_S:g} s): {args.samples}")
    print(f"recordings: {len(files)} segment files, {size_mb:.1f} MiB")
    print(f"stop took {stop_s:.2f} s; hung: {'YES ' + str(hangs or stuck) if hung else 'no'}")
    ok = growth < 1.0 and not hung and p99 < 1.0 and age_flat and threads_ok and queues_ok
    print(
        "targets (RSS growth < 1 %, threads and fds back after every reconnect, no queue growth, "
        "p99 frame age flat within 10 % and < 1 s, no hang):",
        "met" if ok else "MISSED",
    )
    return 0 if ok else 1


SAMPLE_S = 5.0  # memory and queue readings


class Series:
    """A fixed-size float64 table filled row by row, touched up front so it never grows RSS."""

    def __init__(self, capacity: int, columns: int) -> None:
        self._data = np.full((max(1, capacity), columns), np.nan)
        self._n = 0

    def add(self, *values: float) -> None:
        if self._n < len(self._data):
            self._data[self._n] = values
            self._n += 1

    def rows(self) -> np.ndarray:
        return self._data[: self._n]


class Recoveries:
    """Threads and open fds each time every camera is live again after chaos, against the first time.

    A reading is taken once per chaos event, when all cameras have been live and the server healthy
    for ``settle_s``: by then every reconnect has finished and its old threads and sockets are gone.
    """

    def __init__(self, settle_s: float = 8.0) -> None:
        self.settle_s = settle_s
        self.baseline: dict[str, int] | None = None
        self.readings: list[tuple[float, int, int]] = []  # (elapsed, threads, fds); few, one per event
        self.names: Counter[str] = Counter()  # the first reading's threads, by name
        self.extra: Counter[str] = Counter()  # threads (by name) seen beyond those, over all readings
        self._seen_events = -1

    def check(
        self, elapsed: float, all_live: bool, events: int, quiet_s: float, reading: dict[str, int]
    ) -> None:
        if not all_live or quiet_s < self.settle_s or events == self._seen_events:
            return
        self._seen_events = events
        names = Counter(thread_names())
        if self.baseline is None:
            self.baseline = {"threads": reading.get("threads", 0), "fds": reading.get("fds", 0)}
            self.names = names
        else:
            self.readings.append((elapsed, reading.get("threads", 0), reading.get("fds", 0)))
            self.extra.update(names - self.names)

    def report(self) -> bool:
        if self.baseline is None:
            print("threads/fds after reconnects: no moment with every camera live (not judged)")
            return False
        t0, f0 = self.baseline["threads"], self.baseline["fds"]
        off = [(t, th, fd) for t, th, fd in self.readings if th != t0 or fd != f0]
        threads = sorted({th for _, th, _ in self.readings} | {t0})
        fds = sorted({fd for _, _, fd in self.readings} | {f0})
        print(
            f"threads/fds with every camera live: {t0} threads, {f0} fds at first; after "
            f"{len(self.readings)} recoveries: threads {threads}, fds {fds}"
            + (f"; differing at {[round(t) for t, _, _ in off]} s" if off else " (always back)")
        )
        if self.extra:
            print(f"  threads beyond the first reading (name: readings): {dict(self.extra)}")
        return not off


def thread_names() -> list[str]:
    """Python threads by name (digits dropped: ``capture-cam0`` -> ``capture-cam``), plus one
    ``native`` entry per thread that Python did not start (FFmpeg, x264, ONNX Runtime, OpenCV)."""
    python = [re.sub(r"\d+", "", t.name) for t in threading.enumerate()]
    try:
        total = len(os.listdir("/proc/self/task"))
    except OSError:
        total = len(python)
    return python + ["native"] * max(0, total - len(python))


def _change(before: float, after: float) -> float:
    return (after / before - 1) * 100 if before else 0.0


def _queued(queues: dict[str, int | None]) -> dict[str, int]:
    frames = sum(v or 0 for k, v in queues.items() if k.startswith("frames:"))
    return {"queued_frames": frames, "queued_results": queues.get("results") or 0}


def _p99_flat(t_age: np.ndarray, warmup_s: float, elapsed: float) -> tuple[float, float]:
    """p99 frame age in minutes 2-7 and in the last 5 minutes (the whole run where it is shorter)."""
    t, age = t_age[:, 0], t_age[:, 1]
    early = age[(t >= warmup_s) & (t < warmup_s + 300)]
    late = age[t >= elapsed - 300]
    if not early.size or not late.size:
        early = late = age if age.size else np.zeros(1)
    return float(np.percentile(early, 99)), float(np.percentile(late, 99))


def _print_queues(rows: np.ndarray, keys: list[str], first: np.ndarray, last: np.ndarray) -> bool:
    """Mean depth of the frame and result queues in minute 2 vs the last minute, and the maximum."""
    ok = True
    for key in ("queued_frames", "queued_results"):
        col = rows[:, 1 + keys.index(key)]
        a0, a1 = float(col[first].mean()), float(col[last].mean())
        ok = ok and a1 <= a0 + 1.0
        print(f"  {key}: mean {a0:.2f} in minute 2, {a1:.2f} in the last minute, max {col.max():.0f}")
    return ok


def _fmt(key: str, value: float, sign: bool = False) -> str:
    """A ``memory_breakdown`` value for people: MiB, or a plain count for threads."""
    plus = "+" if sign else ""
    if key in COUNTS or key.startswith("queued_"):
        return f"{value:{plus}.0f}"
    return f"{value / 2**20:{plus}.1f} MiB"


if __name__ == "__main__":
    sys.exit(main())
