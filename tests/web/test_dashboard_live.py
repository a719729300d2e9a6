"""`streamseg run --loop --dashboard` as a user runs it, watched by real Chromium and Prometheus."""

from __future__ import annotations

import json
import re
import signal
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamseg.testing.media import write_video
from tests.conftest import REPO, VIDEOS, require_asset
from tests.web.helpers import CHROMIUM, CHROMIUM_ARGS, Run, cli_dashboard, get, need, prometheus, query

pytestmark = pytest.mark.slow

SHORT = "short"  # a 12-frame clip: loops every second or so
STREET = "street_pedestrians_720p30"


@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory, trained_seg_onnx: Path) -> Iterator[Run]:
    clip = tmp_path_factory.mktemp("clips") / f"{SHORT}.mp4"
    write_video(clip, n_frames=12, fps=10)
    street = require_asset(VIDEOS / f"{STREET}.mp4")
    config = clip.with_name("watch.yaml")  # a 30 s leak-watch window: its growth figure shows in seconds
    config.write_text(  # JPEG previews only: the fallback's page (test_live_video.py plays the video)
        "telemetry: {leak_window_s: 30}\ndashboard: {live_viewers: 0}\n"
        f"sources:\n  - {clip}\n  - uri: {street}\n"  # the street is tracked, with a zone and a line
        "    zones: [{name: left, polygon: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}]\n"
        "    lines: [{name: middle, points: [[0.5, 0], [0.5, 1]]}]\n"
    )
    args = ["--loop", "--model", str(trained_seg_onnx), "--imgsz", "320", "--config", str(config)]
    args += ["--events", str(clip.with_name("events.jsonl"))]
    with cli_dashboard([*args, "--batch", "2", "--dashboard", "127.0.0.1:0", "-q"]) as run:
        yield run


@pytest.fixture
def live_url(live_run: Run) -> str:
    return live_run.url


def _status(url: str) -> dict[str, Any]:
    reply = get(url + "api/status")
    assert reply.status == 200, reply.text
    status: dict[str, Any] = reply.json()
    return status


def _wait(predicate: Any, timeout: float = 30.0, step: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    pytest.fail(f"condition not met within {timeout:.0f} s")


def test_probes_status_and_loop(live_url: str) -> None:
    assert get(live_url + "healthz").text == "ok\n"
    _wait(lambda: get(live_url + "readyz").status == 200)
    assert get(live_url + "readyz").text == "ready: 2 of 2 sources live\n"
    status = _wait(lambda: (s := _status(live_url))["sources"][0]["processed"] > 15 and s)
    short = next(s for s in status["sources"] if s["name"] == SHORT)
    assert short["processed"] > 12  # more frames than the clip has: --loop started it over
    assert short["health"] == "live" and short["frame_age_ms"] > 0
    assert status["total"]["fps"] > 0 and status["rss_bytes"] > 0
    assert set(status["stages"]) >= {"infer", "end_to_end"}
    assert 0 < status["batch"]["fill"] <= 1 and status["batch"]["max_size"] == 2


def test_page_shows_live_numbers_and_preview_in_chromium(live_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    need("chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(live_url)
            card = f'article[data-source="{STREET}"]'
            page.wait_for_function(
                "(card) => Number(document.querySelector(card + ' img.preview')?.dataset.updates) >= 2",
                arg=card,
                timeout=30_000,
            )
            first = _read_page(page, card)
            page.wait_for_function(
                """([card, seq, processed]) => {
                    const c = document.querySelector(card);
                    return Number(c.querySelector('img.preview').dataset.seq) > seq
                        && Number(c.querySelector('[data-field="processed"]').textContent) > processed;
                }""",
                arg=[card, first["seq"], first["processed"]],
                timeout=30_000,
            )
            # the leak watch's first figure: a 30 s window reports after 2 s warm-up + 5 buckets of 1 s
            page.wait_for_function(
                "() => document.getElementById('memory-growth').textContent.includes('MiB/h')",
                timeout=30_000,
            )
            second = _read_page(page, card)
            page.screenshot(path=str(tmp_path / "dashboard.png"))
        finally:
            browser.close()
    assert first["health"] == "live"
    assert second["frame"] > first["frame"] and second["pixels"] != first["pixels"]  # the picture moved
    assert second["width"] == 640  # downscaled 720p preview
    assert float(second["fps"]) > 0 and second["total_fps"] != "–"
    assert second["frame_age"].endswith(" ms")
    assert second["lines"] >= 4  # fps, stage, batch and memory charts have data
    assert second["ladder"] == "off"  # no --latency-budget
    assert re.fullmatch(r"RSS [+-]?\d+\.\d MiB/h", second["memory_growth"]), second["memory_growth"]
    # the street's tracker, its zone's live count and its line's crossings; the events file sink
    assert re.fullmatch(r"tracking: bytetrack · left: \d+.* · middle: in \d+ / out \d+", second["scene"])
    assert re.fullmatch(r"events_file connected: \d+ sent, 0 dropped", second["sinks"]), second["sinks"]


def _read_page(page: Any, card: str) -> dict[str, Any]:
    values: dict[str, Any] = page.evaluate(
        """(card) => {
            const c = document.querySelector(card);
            const img = c.querySelector('img.preview');
            const canvas = document.createElement('canvas');
            canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
            const ctx = canvas.getContext('2d');
            ctx.drawImage(img, 0, 0);
            const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
            let hash = 0;
            for (let i = 0; i < data.length; i += 97) hash = (hash * 31 + data[i]) | 0;
            const field = (f) => c.querySelector(`[data-field="${f}"]`).textContent;
            return {
                seq: Number(img.dataset.seq), frame: Number(img.dataset.frame), width: img.naturalWidth,
                pixels: hash, health: field('health'), fps: field('fps'), frame_age: field('frame_age'),
                processed: Number(field('processed')), scene: field('scene'),
                sinks: document.getElementById('event-sinks').textContent,
                total_fps: document.getElementById('total-fps').textContent,
                ladder: document.getElementById('degradation').textContent,
                memory_growth: document.getElementById('memory-growth').textContent,
                lines: document.querySelectorAll('svg.chart polyline').length,
            };
        }""",
        card,
    )
    return values


def test_prometheus_scrapes_a_positive_frame_rate(live_url: str, tmp_path: Path) -> None:
    target = live_url.removeprefix("http://").rstrip("/")
    with prometheus(target, tmp_path) as prom:
        rate = _wait(lambda: query(prom, "sum(rate(streamseg_frames_total[5s]))"), timeout=60)
        assert float(rate[0]["value"][1]) > 0
        up = query(prom, 'streamseg_source_up{source="short"}')
        assert up and float(up[0]["value"][1]) == 1
        p50 = query(prom, 'histogram_quantile(0.5, rate(streamseg_stage_seconds_bucket{stage="infer"}[5s]))')
        assert p50 and float(p50[0]["value"][1]) > 0
        level = query(prom, "streamseg_degradation_level")
        assert level and float(level[0]["value"][1]) == 0  # files only: never degraded
        growth = _wait(lambda: query(prom, 'streamseg_memory_growth_bytes_per_hour{kind="rss"}'), timeout=30)
        assert abs(float(growth[0]["value"][1])) < 1e12  # a number Prometheus stored, not NaN
        # Every query of the Grafana board is valid PromQL, and all but GPU memory have data here.
        for expr in grafana_queries():
            promql = expr.replace("$__rate_interval", "5s").replace("$job", ".*").replace("$instance", ".*")
            reply = get(f"{prom}/api/v1/query?query={urllib.parse.quote(promql)}")
            assert reply.status == 200, (promql, reply.text)
            assert reply.json()["data"]["result"] or "gpu" in promql, promql


def grafana_queries() -> list[str]:
    board = json.loads((REPO / "configs" / "grafana-dashboard.json").read_text())
    return [t["expr"] for panel in board["panels"] for t in panel["targets"]]


def test_grafana_board_uses_only_exported_metrics(live_url: str) -> None:
    exported = get(live_url + "metrics").text
    for expr in grafana_queries():
        for name in re.findall(r"\b(?:streamseg|process)_[a-z_]+", expr):
            assert name in exported or name == "streamseg_gpu_memory_bytes", name


def test_metrics_follow_prometheus_conventions(live_url: str) -> None:
    reply = get(live_url + "metrics")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = reply.text
    for needle in (
        f'streamseg_frames_total{{source="{STREET}"}}',
        'streamseg_stage_seconds_bucket{le="0.01",stage="infer"}',
        "# TYPE streamseg_stage_seconds histogram",
        "# TYPE streamseg_frames_total counter",
        f'streamseg_frame_age_seconds{{source="{SHORT}"}}',
        f'streamseg_source_health{{source="{SHORT}",state="live"}} 1.0',
        'streamseg_batch_size_bucket{le="2.0"}',
        "streamseg_queue_depth{",
        "process_resident_memory_bytes",
        "streamseg_degradation_level 0.0",
        "# TYPE streamseg_memory_growth_bytes_per_hour gauge",
        f'streamseg_zone_objects{{class="",source="{STREET}",zone="left"}}',
        "# TYPE streamseg_zone_dwell_seconds histogram",
        "# TYPE streamseg_line_crossings_total counter",
        'streamseg_events_dropped_total{sink="events_file"} 0.0',
    ):
        assert needle in text, needle
    assert "streamseg_gpu_memory_bytes" not in text  # CPU run: no GPU reading at all, not a fake 0


def test_mjpeg_stream_sends_jpeg_parts(live_url: str) -> None:
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(live_url + f"stream/{STREET}", timeout=15) as r:
        assert r.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=frame"
        head = r.read(200)
    assert head.startswith(b"--frame\r\nContent-Type: image/jpeg\r\n")
    assert get(live_url + "stream/nosuchsource").status == 404


def test_sigint_stops_run_and_dashboard_within_3_s(live_run: Run) -> None:
    """Last in this module: it ends the shared run."""
    live_run.proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    assert live_run.proc.wait(timeout=10) == 130
    assert time.monotonic() - t0 < 3.0
    with pytest.raises(OSError):
        get(live_run.url + "healthz", timeout=2)
