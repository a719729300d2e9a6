"""Screenshot of the live dashboard during a two-source run, for the README (docs/dashboard.png).

    python -m tools.dashboard_screenshot                       # fixture model, two shared clips
    python -m tools.dashboard_screenshot a.mp4 b.mp4 --model m.onnx --wait 40

Runs ``streamseg run SOURCES --loop --dashboard 127.0.0.1:0`` as a user would, lets the charts fill,
then loads the page in headless Chromium (Debian ``chromium``, driven by Playwright) and saves it.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tools.common import FIXTURE_PT, HIGHWAY_CLIP, REPO, STREET_CLIP, child_env, cli_command

DEFAULT_SOURCES = [STREET_CLIP, HIGHWAY_CLIP]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sources", nargs="*", default=[str(p) for p in DEFAULT_SOURCES])
    parser.add_argument("--model", default=str(FIXTURE_PT))
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--wait", type=float, default=45.0, help="seconds of run before the screenshot")
    parser.add_argument("--out", default=str(REPO / "docs" / "dashboard.png"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()

    env = {k: v for k, v in child_env().items() if "proxy" not in k.lower()}
    cmd = cli_command("run", *args.sources, "--loop", "-q", "--model", args.model, "--imgsz", str(args.imgsz))
    cmd += ["--dashboard", "127.0.0.1:0"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = _dashboard_url(proc)
        print(f"dashboard at {url}; waiting {args.wait:.0f} s for the charts to fill", file=sys.stderr)
        time.sleep(args.wait)
        _screenshot(url, Path(args.out), args.chromium)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
    print(args.out)
    return 0


def _dashboard_url(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    for line in proc.stderr:
        if "dashboard at " in line:
            # Keep draining its stderr so the run never blocks on a full pipe.
            threading.Thread(target=lambda: sys.stderr.writelines(proc.stderr or ()), daemon=True).start()
            return line.split("dashboard at ", 1)[1].strip()
        print(line, end="", file=sys.stderr)
    raise SystemExit("streamseg exited before starting its dashboard")


def _screenshot(url: str, out: Path, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    out.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.goto(url)
            page.wait_for_function(
                "() => [...document.querySelectorAll('img.preview')]"
                ".every(i => Number(i.dataset.updates) >= 3)",
                timeout=60_000,
            )
            page.wait_for_timeout(3000)  # a few more SSE ticks and preview frames
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()


if __name__ == "__main__":
    sys.exit(main())
