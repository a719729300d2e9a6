"""What ``--dashboard`` costs the pipeline, with a viewer watching: throughput with and without it.

    python -m tools.bench_dashboard                        # street clip, 5 rounds each way
    python -m tools.bench_dashboard clip.mp4 --rounds 7 --model my.onnx --imgsz 640

Same clip, same model, same process; runs alternate (off, on, off, on ...) so drift in machine load
hits both arms alike. An "on" run starts the dashboard and a separate viewer process that does what
the page does: one server-sent-events stream, one long-polled preview JPEG loop per source, and a
Prometheus-style ``/metrics`` scrape every second. Throughput is frames / wall time from
``Pipeline.start()`` to the last result (model loading excluded). Prints each run, the medians, and
the ratio on/off.

On a shared or busy machine wall-clock throughput swings with other load, so each run also reports
the CPU time this process spent per frame (all its threads; the viewer process is not counted, as a
real viewer sits on another machine): extra CPU per frame is what the dashboard takes from a
CPU-bound pipeline, and it is far less sensitive to neighbours. Most direct of all, the CPU time of the
dashboard's own threads (server loop, JPEG worker) is read from their thread clocks and reported as a
share of the process's CPU in that run; the per-frame hot-path work it adds to pipeline threads (one
histogram update per latency sample, one dict store per frame) is timed separately.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tools.common import ENGINES_DIR, FIXTURE_PT, STREET_CLIP, Arms, child_env, tool_command


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("clip", nargs="?", default=str(STREET_CLIP))
    parser.add_argument("--model", default=str(FIXTURE_PT), help=".onnx, or -seg .pt (exported once)")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--rounds", type=int, default=5, help="runs with and runs without (each)")
    parser.add_argument("--record", metavar="DIR", help="also record (annotated) in both arms, into DIR")
    parser.add_argument("--engines-dir", default=str(ENGINES_DIR))
    parser.add_argument("--viewer", metavar="URL", help=argparse.SUPPRESS)  # internal: be the viewer
    parser.add_argument("--sources", nargs="*", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.viewer:
        return _viewer(args.viewer, args.sources)

    from streamseg.config import Config, ModelConfig, OutputConfig, SourceConfig
    from streamseg.inference.model_files import resolve_model

    model = resolve_model(args.model, Path(args.engines_dir))
    base = Config(
        sources=(SourceConfig(args.clip),),
        model=ModelConfig(path=str(model), imgsz=args.imgsz, engines_dir=args.engines_dir),
    )
    print(f"clip {args.clip}, model {model.name}, imgsz {args.imgsz}", flush=True)
    print(f"{args.rounds} rounds each way, alternating, after one warm-up run", flush=True)
    fps_arms: Arms[bool] = Arms(False, True)  # plain, dashboard+viewer
    cpu: Arms[bool] = Arms(False, True)
    shares: list[float] = []
    for i in range(2 * args.rounds + 1):  # one warm-up run first, not counted
        dashboard = i % 2 == 0
        cfg = base
        if args.record:
            out = OutputConfig(record=str(Path(args.record) / f"bench_{i}.mp4"))
            cfg = dataclasses.replace(cfg, output=out)
        frames, seconds, cpu_s, encoded, board_cpu_s = _run(cfg, dashboard)
        fps = frames / seconds
        cpu_ms = 1e3 * cpu_s / frames
        label = "warm-up" if i == 0 else ("dashboard+viewer" if dashboard else "plain")
        extra = (
            f", dashboard threads {100 * board_cpu_s / cpu_s:.2f} % of CPU, {encoded} JPEGs"
            if dashboard
            else ""
        )
        print(
            f"  run {i:2d} {label:17s} {frames} frames in {seconds:6.2f} s = {fps:6.2f} fps, "
            f"CPU {cpu_ms:6.2f} ms/frame{extra}",
            flush=True,
        )
        if i > 0:
            fps_arms.add(dashboard, fps)
            cpu.add(dashboard, cpu_ms)
            if dashboard:
                shares.append(board_cpu_s / cpu_s)
    off, on = fps_arms.median(False), fps_arms.median(True)
    ratio = fps_arms.ratio(True, False)
    print(f"median plain            {off:6.2f} fps")
    print(f"median dashboard+viewer {on:6.2f} fps")
    print(f"ratio {ratio:.4f}  (cost {100 * (1 - ratio):+.2f} % of throughput)")
    cpu_off, cpu_on = cpu.median(False), cpu.median(True)
    cpu_ratio = cpu.ratio(True, False)
    print(f"median CPU per frame: plain {cpu_off:.2f} ms, dashboard+viewer {cpu_on:.2f} ms")
    print(f"CPU ratio {cpu_ratio:.4f}  (cost {100 * (cpu_ratio - 1):+.2f} % CPU per frame)")
    hot_us = _hot_path_us_per_frame()
    share = statistics.median(shares)
    print(
        f"dashboard threads: median {100 * share:.2f} % of the process's CPU (max {100 * max(shares):.2f} %)"
    )
    print(f"hot path added to pipeline threads: {hot_us:.1f} us per frame")
    return 0


def _run(cfg: object, dashboard: bool) -> tuple[int, float, float, int, float]:
    from streamseg.config import Config, DashboardConfig
    from streamseg.pipeline import Pipeline
    from streamseg.telemetry import Telemetry
    from streamseg.web import Dashboard

    assert isinstance(cfg, Config)
    telemetry = Telemetry(gpu_index=None)
    board = None
    if dashboard:
        cfg = dataclasses.replace(cfg, dashboard=DashboardConfig(listen="127.0.0.1:0"))
        board = Dashboard(cfg, telemetry)
    pipeline = Pipeline(config=cfg, telemetry=telemetry, sinks=board.sinks if board else ())
    pipeline.open()
    viewer = None
    if board is not None:
        board.start(pipeline)
        names = [s.name for s in pipeline.sources]
        viewer = subprocess.Popen(
            tool_command("bench_dashboard", "--viewer", board.url, "--sources", *names),
            stdout=subprocess.DEVNULL,
            env=child_env(),
        )
        time.sleep(1.0)  # the viewer is connected before the first frame
    frames = 0
    t0, cpu0 = time.perf_counter(), time.process_time()
    for _ in pipeline.results():
        frames += 1
    seconds, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    encoded = 0
    board_threads = {t.name: _thread_cpu(t) for t in threading.enumerate() if t.name.startswith("dashboard")}
    board_cpu_s = sum(board_threads.values())
    if board_threads:
        print("    " + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(board_threads.items())), flush=True)
    if viewer is not None:
        viewer.terminate()
        viewer.wait()
    if board is not None and board.server is not None:
        encoded = board.server._encoder.encoded
        board.stop()
    telemetry.close()
    return frames, seconds, cpu_s, encoded, board_cpu_s


def _thread_cpu(thread: threading.Thread) -> float:
    """CPU seconds a thread has used since it started (Linux thread clocks)."""
    if thread.ident is None:
        return 0.0
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    except (OSError, AttributeError):
        return 0.0


def _hot_path_us_per_frame(frames: int = 20_000) -> float:
    """What the dashboard adds to each frame on pipeline threads: histogram updates and the preview store."""
    from streamseg.telemetry import STAGES, Telemetry
    from streamseg.web.metrics import PipelineMetrics
    from streamseg.web.preview import PreviewSink

    def per_frame(telemetry: Telemetry, sink: PreviewSink | None) -> float:
        t0 = time.perf_counter()
        for _ in range(frames):
            for stage in STAGES:
                telemetry.record_stage(stage, 0.01, "a")
            telemetry.record_batch(4)
            if sink is not None:
                sink.write(result, None)
        return (time.perf_counter() - t0) / frames

    result = _fake_result()
    plain = Telemetry(gpu_index=None)
    watched = Telemetry(gpu_index=None)
    watched.add_observer(PipelineMetrics(lambda: {}, 4))
    base = min(per_frame(plain, None) for _ in range(3))
    extra = min(per_frame(watched, PreviewSink()) for _ in range(3))
    return 1e6 * (extra - base)


def _fake_result() -> object:
    import numpy as np

    from streamseg.types import Frame, InstanceMasks, SegResult

    frame = Frame("a", 0, 0.0, time.monotonic(), np.zeros((8, 8, 3), np.uint8))
    empty = np.zeros((0,), np.float32)
    return SegResult(
        frame, np.zeros((0, 4), np.float32), np.zeros((0,), np.int64), empty, InstanceMasks.empty((8, 8)), ()
    )


def _viewer(url: str, sources: list[str]) -> int:
    """What an open dashboard page does, in a separate process."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def events() -> None:
        with opener.open(url + "api/events", timeout=30) as r:
            while r.read1(65536):
                pass

    def preview(name: str) -> None:
        after = 0
        while True:
            with opener.open(f"{url}api/preview/{name}?after={after}", timeout=30) as r:
                if r.status == 200:
                    r.read()
                    after = int(r.headers["X-Preview-Seq"])

    def metrics() -> None:
        while True:
            with opener.open(url + "metrics", timeout=30) as r:
                r.read()
            time.sleep(1.0)

    def quietly(fn: Callable[..., None], *fn_args: str) -> None:
        with contextlib.suppress(OSError):  # the run ended and the server went away
            fn(*fn_args)

    threads = [threading.Thread(target=quietly, args=(f,), daemon=True) for f in (events, metrics)]
    threads += [threading.Thread(target=quietly, args=(preview, n), daemon=True) for n in sources]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
