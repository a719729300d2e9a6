"""Issue 20, item 4: secrets planted in every position a camera URL carries them (userinfo, a DVR's path,
secret query keys; one camera that never answers, so its errors quote the URL) never show in the log,
``/api/status``, ``/metrics``, the live events, the results file, the telemetry file or any file name."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamseg.testing.rtsp import free_port
from tests.cli.test_main import OFFLINE_ENV
from tests.web.helpers import get, serve_bytes

pytestmark = pytest.mark.slow

SECRETS = [f"Sekr3t{i}x" for i in range(10)]


@pytest.fixture(scope="module")
def clip_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Serves one MPEG-TS clip at every path and query, like a camera's HTTP stream."""
    clip = tmp_path_factory.mktemp("served") / "clip.ts"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-t", "2",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-f", "mpegts", str(clip)],
        check=True, timeout=60,
    )  # fmt: skip
    body = clip.read_bytes()

    server = serve_bytes(body, "video/mp2t")
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def test_planted_secrets_appear_nowhere(clip_server: int, tmp_path: Path, random_seg_onnx: Path) -> None:
    s = SECRETS
    base = f"http://127.0.0.1:{clip_server}"
    sources = [
        f"http://admin:{s[0]}@127.0.0.1:{clip_server}/cams/front.ts?api_key={s[1]}",
        f"{base}/user=admin_password={s[2]}_channel=1_stream=0.ts?X-Amz-Signature={s[3]}&passphrase={s[4]}",
        f"{base}/live/pass={s[5]}/stream.ts?access_token={s[6]}&sig={s[7]}",
        f"rtsp://admin:{s[8]}@127.0.0.1:{free_port()}/door?token={s[9]}",  # never answers: errors quote it
    ]
    record, results, telemetry, log = (tmp_path / n for n in ("out.mp4", "r.jsonl", "t.jsonl", "log.txt"))
    cmd = [sys.executable, "-m", "streamseg", "run", *sources, "--model", str(random_seg_onnx)]
    cmd += ["--imgsz", "160", "--loop", "-v", "--dashboard", "127.0.0.1:0", "--record", str(record)]
    cmd += ["--save-results", str(results), "--telemetry", str(telemetry), "--source-timeout", "1"]
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, text=True, env=OFFLINE_ENV)
    seen: dict[str, str] = {}
    try:
        url = _dashboard_url(log, proc)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            status = get(url + "api/status").text
            # every HTTP source has a frame recorded (the RTSP one never answers) and an error shows
            if '"last_error":"' in status and _all_processed(status, but="door"):
                break
            time.sleep(0.5)
        seen["status"] = get(url + "api/status").text
        seen["metrics"] = get(url + "metrics").text
        seen["events"] = _first_events(url)
    finally:
        proc.send_signal(2)
        proc.wait(timeout=30)
    seen["log"] = log.read_text()
    seen["results"] = results.read_text()
    seen["telemetry"] = telemetry.read_text()
    seen["file names"] = " ".join(p.name for p in tmp_path.rglob("*"))
    assert "user_admin_channel_1_stream_0" in seen["status"] and "door" in seen["status"]
    assert "***" in seen["log"] and "last_error" in seen["telemetry"]
    assert {"front", "stream"} <= {p.stem.removeprefix("out_") for p in tmp_path.glob("out_*.mp4")}
    for where, text in seen.items():
        leaked = [secret for secret in SECRETS if secret in text]
        assert not leaked, f"{leaked} in the {where}"


def _dashboard_url(log: Path, proc: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        for line in log.read_text().splitlines():
            if "dashboard at " in line:
                return line.split("dashboard at ", 1)[1].strip()
        time.sleep(0.2)
    pytest.fail("no dashboard:\n" + log.read_text())


def _first_events(url: str) -> str:
    """The live events stream (server-sent events) until two status events came."""
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    chunks: list[str] = []
    with opener.open(url + "api/events", timeout=15) as stream:
        while sum(c.count("event: status") for c in chunks) < 2:
            line = stream.readline().decode()
            if not line:
                break
            chunks.append(line)
    return "".join(chunks)


def _all_processed(status_text: str, but: str) -> bool:
    """Whether every source but ``but`` has processed a frame (all four listed)."""
    sources = json.loads(status_text)["sources"]
    return len(sources) >= 4 and all(s["processed"] > 0 for s in sources if s["name"] != but)
