"""The ``streamseg`` command as a user runs it: bad input gets one clear line, signals stop cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streamseg.testing.media import read_video, write_video
from tests.conftest import FIXTURE_PT, VIDEOS, require_asset

CLI = [sys.executable, "-m", "streamseg"]
# Make any accidental download fail fast and deterministically: tests must never download.
OFFLINE_ENV = {**os.environ, "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=OFFLINE_ENV, check=False
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode != 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in lines if line.startswith("streamseg: error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "small.mp4"
    write_video(path, n_frames=6)
    return path


def model_args(random_seg_onnx: Path, engines_dir: Path) -> list[str]:
    return ["--model", str(random_seg_onnx), "--engines-dir", str(engines_dir), "--imgsz", "320"]


# ----------------------------------------------------------------------------------------- bad input
def test_missing_video(tmp_path: Path, random_seg_onnx: Path, engines_dir: Path) -> None:
    proc = run_cli("run", str(tmp_path / "nope.mp4"), *model_args(random_seg_onnx, engines_dir))
    assert_one_line_error(proc, "nope.mp4", "not found")


def test_file_that_is_not_video(tmp_path: Path, random_seg_onnx: Path, engines_dir: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    proc = run_cli("run", str(text), *model_args(random_seg_onnx, engines_dir))
    assert_one_line_error(proc, "notes.mp4")


def test_truncated_video_processes_what_decodes(
    tmp_path: Path, random_seg_onnx: Path, engines_dir: Path
) -> None:
    clip = tmp_path / "cut.mp4"
    write_video(clip, n_frames=40)
    data = bytearray(clip.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 3000] = b"\xff" * 3000
    clip.write_bytes(bytes(data))
    results = tmp_path / "r.jsonl"
    proc = run_cli(
        "run", str(clip), *model_args(random_seg_onnx, engines_dir), "--save-results", str(results)
    )
    assert_one_line_error(proc, "cut.mp4", "corrupt")
    assert 5 < len(results.read_text().splitlines()) < 40


def test_missing_model(small_clip: Path, tmp_path: Path) -> None:
    proc = run_cli("run", str(small_clip), "--model", str(tmp_path / "missing.onnx"))
    assert_one_line_error(proc, "missing.onnx", "not found")


def test_missing_pt_names_model_flag(small_clip: Path, tmp_path: Path) -> None:
    proc = run_cli("run", str(small_clip), "--model", str(tmp_path / "weights" / "mine-seg.pt"))
    assert_one_line_error(proc, "mine-seg.pt", "--model PATH")


def test_default_model_offline_names_model_flag(small_clip: Path, tmp_path: Path) -> None:
    proc = run_cli("run", str(small_clip), "--engines-dir", str(tmp_path / "eng"), cwd=tmp_path)
    assert_one_line_error(proc, "yolov8n-seg.pt", "--model PATH")


@pytest.mark.parametrize("suffix", [".onnx", ".pt"])
def test_invalid_model_file(small_clip: Path, tmp_path: Path, suffix: str) -> None:
    bad = tmp_path / f"garbage{suffix}"
    bad.write_bytes(os.urandom(4096))
    proc = run_cli("run", str(small_clip), "--model", str(bad), "--engines-dir", str(tmp_path / "eng"))
    assert_one_line_error(proc, f"garbage{suffix}", "not a valid")


def test_unsupported_model_format(small_clip: Path, tmp_path: Path) -> None:
    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"x")
    proc = run_cli("run", str(small_clip), "--model", str(bad))
    assert_one_line_error(proc, "unsupported model format")


def test_detection_model_is_rejected(small_clip: Path, tmp_path: Path) -> None:
    """A real YOLOv8n *detection* network, exported through our own path, is refused by name."""
    from ultralytics import YOLO

    pt = tmp_path / "yolov8n-detect.pt"
    YOLO("yolov8n.yaml").save(str(pt))
    proc = run_cli("run", str(small_clip), "--model", str(pt), "--engines-dir", str(tmp_path / "eng"))
    assert_one_line_error(proc, "not a segmentation model")


def test_invalid_yaml(tmp_path: Path, small_clip: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("model:\n  conf: [0.5\n")
    proc = run_cli("run", str(small_clip), "--config", str(cfg))
    assert_one_line_error(proc, "invalid YAML", "bad.yaml", "line")


def test_unknown_config_key(tmp_path: Path, small_clip: Path) -> None:
    cfg = tmp_path / "typo.yaml"
    cfg.write_text("model:\n  confidence: 0.5\n")
    proc = run_cli("run", str(small_clip), "--config", str(cfg))
    assert_one_line_error(proc, "unknown config key 'confidence'")


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [
        ("--batch", "-1", "batch"),
        ("--conf", "1.5", "conf"),
        ("--imgsz", "100", "imgsz"),
        ("--iou", "-0.1", "iou"),
    ],
)
def test_nonsensical_values(small_clip: Path, flag: str, value: str, needle: str) -> None:
    proc = run_cli("run", str(small_clip), flag, value)
    assert_one_line_error(proc, needle)


def test_unwritable_record_path(
    small_clip: Path, tmp_path: Path, random_seg_onnx: Path, engines_dir: Path
) -> None:
    out = tmp_path / "no" / "such" / "dir" / "out.mp4"
    proc = run_cli("run", str(small_clip), *model_args(random_seg_onnx, engines_dir), "--record", str(out))
    assert_one_line_error(proc, "out.mp4")


def test_debug_shows_traceback(tmp_path: Path) -> None:
    proc = run_cli("run", str(tmp_path / "nope.mp4"), "--debug")
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


# ----------------------------------------------------------------------------------------- good runs
def test_run_writes_all_outputs(
    tmp_path: Path, small_clip: Path, random_seg_onnx: Path, engines_dir: Path
) -> None:
    rec, res, tel = tmp_path / "o.mp4", tmp_path / "r.jsonl", tmp_path / "t.jsonl"
    proc = run_cli(
        "run",
        str(small_clip),
        *model_args(random_seg_onnx, engines_dir),
        "--record",
        str(rec),
        "--save-results",
        str(res),
        "--telemetry",
        str(tel),
    )
    assert proc.returncode == 0, proc.stderr
    assert "end_to_end" in proc.stderr and "small" in proc.stderr  # the summary table
    times, codec, *_ = read_video(rec)
    assert len(times) == 6 and codec == "h264"
    assert len(res.read_text().splitlines()) == 6
    snapshots = [json.loads(line) for line in tel.read_text().splitlines()]
    assert snapshots and snapshots[-1]["total"]["processed"] == 6
    assert "rss_bytes" in snapshots[-1] and "gpu_memory_bytes" not in snapshots[-1]


def test_second_run_reuses_the_export(tmp_path: Path, small_clip: Path, random_seg_pt: Path) -> None:
    engines = tmp_path / "eng"
    args = ["run", str(small_clip), "--model", str(random_seg_pt), "--engines-dir", str(engines), "-q", "-v"]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    exported = list(engines.glob("*.onnx"))
    assert len(exported) == 1
    mtime = exported[0].stat().st_mtime_ns
    second = run_cli(*args)
    assert second.returncode == 0, second.stderr
    assert "using cached export" in second.stderr
    assert exported[0].stat().st_mtime_ns == mtime


def test_demo_clip_is_the_default_source(tmp_path: Path, random_seg_onnx: Path, engines_dir: Path) -> None:
    env_cache = {"STREAMSEG_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run(
        [
            *CLI,
            "run",
            *model_args(random_seg_onnx, engines_dir),
            "--record",
            str(tmp_path / "demo.mp4"),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**OFFLINE_ENV, **env_cache},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "demo clip" in proc.stderr
    times, *_ = read_video(tmp_path / "demo.mp4")
    assert len(times) > 100


def test_help_teaches() -> None:
    proc = run_cli("run", "--help")
    assert proc.returncode == 0
    for needle in ("--record", "--model PATH", "examples:", "offline"):
        assert needle in proc.stdout
    text = " ".join(proc.stdout.split())  # the defaults Ultralytics users expect, said where they look
    assert "(default: the checkpoint's own size, as Ultralytics; else 640)" in text
    assert "(default: 0.25, 0.1 for tracked sources (as Ultralytics' track))" in text


# ----------------------------------------------------------------------------------------- signals
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_within_3s_and_finalizes(
    tmp_path: Path, trained_seg_onnx: Path, engines_dir: Path, sig: int, code: int
) -> None:
    rec, res = tmp_path / "o.mp4", tmp_path / "r.jsonl"
    proc = subprocess.Popen(
        [
            *CLI,
            "run",
            str(VIDEOS / "street_dance_crowd_720p25.mp4"),
            "--model",
            str(trained_seg_onnx),
            "--engines-dir",
            str(engines_dir),
            "--record",
            str(rec),
            "--save-results",
            str(res),
            "-q",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=OFFLINE_ENV,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if res.exists() and len(res.read_text().splitlines()) >= 8:
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)
        else:
            pytest.fail("the run never got going")
        sent = time.monotonic()
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    assert took < 3.0, f"took {took:.2f} s to stop"
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    assert f"stopped by {signal.Signals(sig).name}" in stderr
    times, codec, *_ = read_video(rec)
    assert codec == "h264" and len(times) >= 8


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--decode", "gpu"],
            "streamseg: error: --decode gpu: the onnxruntime backend takes frames from the host",
        ),
        (
            ["--backend", "torch", "--decode", "gpu"],
            "streamseg: error: --decode gpu: the model runs on the CPU",
        ),
        (["--encoder", "nvenc"], "streamseg: error: --encoder nvenc: NVENC does not open on this machine"),
    ],
)
def test_gpu_only_options_without_a_gpu_are_one_line(tmp_path: Path, flags: list[str], message: str) -> None:
    """On this CPU-only machine NVDEC and NVENC cannot work: one line, exit code 2, no traceback."""
    clip = tmp_path / "clip.mp4"
    write_video(clip, n_frames=3)
    proc = run_cli(
        "run", str(clip), "--model", str(require_asset(FIXTURE_PT)), *flags, "-o", str(tmp_path / "o.mp4")
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip().splitlines()[-1]]
    assert proc.stderr.strip().startswith(message), proc.stderr
    assert "Traceback" not in proc.stderr


def test_retention_deletes_the_oldest_recordings_only(
    small_clip: Path, tmp_path: Path, random_seg_onnx: Path, engines_dir: Path
) -> None:
    """Last week's recordings beside ``--record`` go; other files there, and this run's, stay."""
    folder = tmp_path / "recordings"
    folder.mkdir()
    week_ago = time.time() - 8 * 86_400
    for name in ("out_cam_000.mp4", "out_cam_001.mp4", "holiday.mp4"):
        (folder / name).write_bytes(b"\0" * 4096)
        os.utime(folder / name, (week_ago, week_ago))
    record = ["--record", str(folder / "out.mp4"), "--retain", "7d", "-q"]
    proc = run_cli("run", str(small_clip), *model_args(random_seg_onnx, engines_dir), *record)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["holiday.mp4", "out.mp4"]
    said = [line for line in proc.stderr.splitlines() if "retention:" in line]
    assert len(said) == 1 and "deleted 2 file(s)" in said[0] and "older than 7d" in said[0], proc.stderr


def test_retention_without_anything_to_retain_is_one_line(small_clip: Path) -> None:
    assert_one_line_error(run_cli("run", str(small_clip), "--retain", "7d"), "give one of them too")
    proc = run_cli("run", str(small_clip), "--record", "x.mp4", "--retain-size", "lots")
    assert_one_line_error(proc, "--retain-size", "must be a size like 500MB")
    assert proc.returncode == 2
