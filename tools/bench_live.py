"""The dashboard's live video against its JPEG preview (what the page showed before, and still shows
where the video cannot play), watched by headless Chromium: pictures per second on the page,
capture-to-screen latency, and what each costs the pipeline process in CPU.

    python -m tools.bench_live                        # one 640x360 25 fps RTSP camera, 3 rounds
    python -m tools.bench_live --size 1280x720 --fps 30 --rounds 5 --window 20

Per round, two fresh ``streamseg run rtsp://... --dashboard`` processes in turn (the order alternates):
"jpeg" with ``dashboard.live_viewers: 0`` (the page long-polls preview JPEGs), "live" with the video
(H.264 over a WebSocket into Media Source Extensions, encoded only while watched). The camera is
GStreamer's RTSP server on loopback (``streamseg.testing.rtsp``). Over ``--window`` seconds with
the page open: pictures shown per second (``requestVideoFrameCallback`` for the video, image loads for
the JPEGs) against the frames the pipeline processed per second, the page's capture-to-screen latency
sampled every 100 ms (the video only: JPEGs carry no capture time), and the CPU seconds per second of
the streamseg process (all its threads; Chromium, on the same machine here, not counted). Prints each
run, the medians, the ratios live/jpeg, and whether the latency target (1 s on loopback, issue 19) is
met.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from streamseg.testing.rtsp import RtspServer
from tools.common import ENGINES_DIR, FIXTURE_PT, child_env, cli_command, fmt, ratio

CHROMIUM = "/usr/bin/chromium"
TARGET_MS = 1000.0

PAGE_PROBE = """() => {
    const card = document.querySelector('article.source');
    if (!card) return null;
    const v = card.querySelector('video.live'), img = card.querySelector('img.preview');
    return {frames: Number(v.dataset.frames || 0), updates: Number(img.dataset.updates || 0),
            latency: v.dataset.latencyMs === undefined ? null : Number(v.dataset.latencyMs), live: !v.hidden};
}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(FIXTURE_PT), help="model (default: the fixture network)")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--size", default="640x360", help="camera picture size (default 640x360)")
    parser.add_argument("--fps", type=int, default=25, help="camera frame rate (default 25)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window", type=float, default=15.0, help="seconds measured per run (default 15)")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"bench_live: {CHROMIUM} not found (apt-get install chromium)")
    runs: dict[str, list[dict[str, float]]] = {"jpeg": [], "live": []}
    with RtspServer(mounts=1, size=args.size, fps=args.fps) as camera, tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for arm in ("jpeg", "live") if r % 2 == 0 else ("live", "jpeg"):
                run = _measure(arm, camera.url(0), args, Path(tmp))
                runs[arm].append(run)
                shown = ", ".join(f"{k} {fmt(v, '.1f')}" for k, v in run.items())
                print(f"round {r + 1} {arm:4s}: {shown}", flush=True)
    _report(runs, args)
    return 0


def _measure(arm: str, url: str, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    config = tmp / f"{arm}.yaml"
    config.write_text(f"dashboard: {{live_viewers: {0 if arm == 'jpeg' else 16}}}\n")
    cli = [url, "--model", args.model, "--imgsz", str(args.imgsz), "--engines-dir", str(ENGINES_DIR)]
    cli += ["--config", str(config), "--dashboard", "127.0.0.1:0", "-q"]
    with _streamseg(cli) as (page_url, proc), sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-proxy-server"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(page_url)
            page.wait_for_function(
                "() => { const c = document.querySelector('article.source'); return c && "
                "(Number(c.querySelector('video.live').dataset.frames) > 10 || "
                "Number(c.querySelector('img.preview').dataset.updates) > 3); }",
                timeout=60_000,
            )
            time.sleep(2.0)  # settled
            first, cpu0, t0 = page.evaluate(PAGE_PROBE), proc.cpu_times(), time.monotonic()
            latencies = []
            while time.monotonic() - t0 < args.window:
                time.sleep(0.1)
                sample = page.evaluate(PAGE_PROBE)
                if sample["live"] and sample["latency"] is not None:
                    latencies.append(float(sample["latency"]))
            last, cpu1, t1 = page.evaluate(PAGE_PROBE), proc.cpu_times(), time.monotonic()
            processed = _status(page_url)["total"]["fps"]
        finally:
            browser.close()
    seconds = t1 - t0
    shown = (last["frames"] - first["frames"]) if arm == "live" else (last["updates"] - first["updates"])
    busy = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    out = {"processed_per_s": processed, "pictures_per_s": shown / seconds, "cpu_per_s": busy / seconds}
    if latencies:
        out["latency_p50_ms"] = statistics.median(latencies)
        out["latency_p95_ms"] = sorted(latencies)[int(0.95 * (len(latencies) - 1))]
    return out


def _status(page_url: str) -> dict[str, Any]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    with opener.open(page_url + "api/status", timeout=10) as reply:
        status: dict[str, Any] = json.load(reply)
    return status


@contextlib.contextmanager
def _streamseg(cli: list[str]) -> Iterator[tuple[str, psutil.Process]]:
    proc = subprocess.Popen(
        [*cli_command(), "run", *cli],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=child_env(),
    )
    try:
        assert proc.stderr is not None
        url = None
        for line in proc.stderr:
            match = re.search(r"dashboard at (\S+)", line)
            if match:
                url = match.group(1)
                break
        if url is None:
            sys.exit("bench_live: streamseg did not start its dashboard")
        yield url, psutil.Process(proc.pid)
    finally:
        proc.send_signal(2)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _report(runs: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    def median(arm: str, key: str) -> float | None:
        values = [r[key] for r in runs[arm] if key in r]
        return statistics.median(values) if values else None

    print(f"\ncamera {args.size} at {args.fps} fps, {args.rounds} rounds of {args.window:.0f} s; medians:")
    for key in ("processed_per_s", "pictures_per_s", "cpu_per_s"):
        jpeg, live = median("jpeg", key), median("live", key)
        times = fmt(ratio(live, jpeg), ".2f", "x")
        print(f"  {key:15s} jpeg {fmt(jpeg):>8s}   live {fmt(live):>8s}   live/jpeg {times}")
    p50, p95 = median("live", "latency_p50_ms"), median("live", "latency_p95_ms")
    print(f"  capture to screen (live): p50 {fmt(p50, '.0f')} ms, p95 {fmt(p95, '.0f')} ms")
    met = p95 is not None and p95 <= TARGET_MS
    print(f"  target p95 <= {TARGET_MS:.0f} ms on loopback: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    raise SystemExit(main())
