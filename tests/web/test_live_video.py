"""The dashboard's live video as a user sees it: `streamseg run rtsp://camera --dashboard`, watched in a
real Chromium. The video plays at the camera's rate, its time advances, the picture carries the overlay,
the page shows the capture-to-screen latency, clicks on the video reach click-to-segment, and the
encoder (nothing else needs one here) runs only while the page is open."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamseg.testing.rtsp import RtspServer, gst_rtsp_available
from tests.web.helpers import CHROMIUM, CHROMIUM_ARGS, cli_dashboard, get, need

pytestmark = pytest.mark.slow

CAMERA_FPS = 25


@pytest.fixture(scope="module")
def camera() -> Iterator[RtspServer]:
    why = gst_rtsp_available()
    if why is not None:
        pytest.fail(f"the live video test needs GStreamer's RTSP server ({why})")
    with RtspServer(mounts=1, size="640x360", fps=CAMERA_FPS) as server:  # a moving ball on black
        yield server


def _live(url: str) -> dict[str, Any]:
    """The live video's part of the status (empty until the pipeline has started)."""
    live: dict[str, Any] = (get(url + "api/status").json()["live"] or {"sources": {}})["sources"]
    return live.get("cam0", {})


def _wait(predicate: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"condition not met within {timeout:.0f} s")


def test_the_live_video_plays_with_its_overlay_in_chromium(
    camera: RtspServer, trained_seg_onnx: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    need("chromium")
    args = [camera.url(0), "--model", str(trained_seg_onnx), "--imgsz", "320", "-q"]
    with cli_dashboard([*args, "--dashboard", "127.0.0.1:0"]) as run:
        assert _wait(lambda: _live(run.url))["viewers"] == 0
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(run.url)
                video = 'article[data-source="cam0"] video.live'
                page.wait_for_function(
                    "(v) => Number(document.querySelector(v)?.dataset.frames) >= 10",
                    arg=video,
                    timeout=45_000,
                )
                first = _read_video(page, video)
                time.sleep(2)
                second = _read_video(page, video)
                assert _live(run.url)["viewers"] == 1
                metrics = get(run.url + "metrics").text
                page.screenshot(path=str(tmp_path / "live.png"))
                with page.expect_request(
                    lambda r: "/api/prompts/cam0" in r.url and r.method == "POST"
                ) as req:
                    page.click(video, position={"x": 200, "y": 100})
                click = req.value.post_data_json
                page.wait_for_function(
                    "(v) => document.querySelector(v).title.includes('need a SAM model')",
                    arg=video,
                    timeout=10_000,
                )
            finally:
                browser.close()
        # the page closed: the viewer is gone, and (after the linger) the encoder stops
        _wait(lambda: _live(run.url)["viewers"] == 0)
        stopped = _live(run.url)["fragments"]
        time.sleep(1.0)
        assert _live(run.url)["fragments"] == stopped
    assert not first["hidden"] and first["preview_hidden"]  # the video replaced the JPEG preview
    assert first["error"] is None and not second["paused"]
    assert second["time"] > first["time"] + 1.0  # its time advances, at about the camera's rate
    rate = (second["frames"] - first["frames"]) / (second["time"] - first["time"])
    assert CAMERA_FPS * 0.5 < rate < CAMERA_FPS * 1.5, rate  # full rate, not a slideshow
    # the overlay: the HUD's text is drawn over the camera's black top-left corner
    assert second["hud_bright_pixels"] > 50, second
    latency = second["latency_text"]
    assert re.fullmatch(r"\d+ ms", latency), latency
    assert 0 < int(latency.split()[0]) < 10_000  # shown and sane (tools/bench_live.py measures it)
    assert 'streamseg_live_viewers{source="cam0"} 1.0' in metrics
    assert 0 <= click["fx"] <= 1 and 0 <= click["fy"] <= 1  # the click, as fractions of the picture


def _read_video(page: Any, selector: str) -> dict[str, Any]:
    values: dict[str, Any] = page.evaluate(
        """(selector) => {
            const v = document.querySelector(selector);
            const c = v.closest('article');
            const canvas = document.createElement('canvas');
            canvas.width = v.videoWidth; canvas.height = v.videoHeight;
            const ctx = canvas.getContext('2d');
            ctx.drawImage(v, 0, 0);
            const hud = ctx.getImageData(0, 0, 160, 90).data;
            let bright = 0;
            for (let i = 0; i < hud.length; i += 4) if (hud[i] + hud[i + 1] + hud[i + 2] > 450) bright++;
            return {
                frames: Number(v.dataset.frames), time: v.currentTime, paused: v.paused, hidden: v.hidden,
                error: v.error && v.error.message, width: v.videoWidth, hud_bright_pixels: bright,
                preview_hidden: c.querySelector('img.preview').hidden,
                latency_text: c.querySelector('[data-field="screen_latency"]').textContent,
            };
        }""",
        selector,
    )
    return values
