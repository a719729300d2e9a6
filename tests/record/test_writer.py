"""The recording: real timestamps, browser-playable H.264, and a usable file after a kill."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import numpy as np
import pytest

from streamseg.config import OutputConfig
from streamseg.errors import OutputError
from streamseg.record import VideoWriter, record_path_for
from streamseg.testing.assets import REPO as REPO_ROOT


def picture(i: int, h: int = 120, w: int = 160) -> np.ndarray:
    """A frame that differs from its neighbours (a moving bar over noise), so the encoder has work to do."""
    rng = np.random.default_rng(i)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    img[:, (i * 5) % w : (i * 5) % w + 10] = (0, 0, 255)
    return img


def decode(path: Path) -> tuple[list[float], dict[str, object]]:
    """Decoded frame pts (seconds) plus stream facts; stops quietly at a truncated tail."""
    pts: list[float] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        info: dict[str, object] = {
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.format.name if stream.codec_context.format else None,
            "size": (stream.codec_context.width, stream.codec_context.height),
            "duration": container.duration / 1_000_000 if container.duration else None,
        }
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    pts.append(float(frame.pts * stream.time_base))
        except av.FFmpegError:
            pass  # a file cut mid-fragment ends in a partial packet
    return pts, info


VFR_PTS = [0.0, 0.033, 0.1, 0.5, 0.533, 0.6, 1.2, 1.233, 1.266, 2.0, 2.04, 2.5]


def test_vfr_timestamps_survive_the_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "vfr.mp4"
    with VideoWriter(path, fps_hint=30.0) as writer:
        for i, t in enumerate(VFR_PTS):
            writer.write(picture(i), t)
    assert writer.closed and writer.frames_written == len(VFR_PTS) and writer.pts_fixups == 0
    pts, info = decode(path)
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p" and info["size"] == (160, 120)
    assert len(pts) == len(VFR_PTS)
    assert np.abs(np.array(pts) - np.array(VFR_PTS)).max() < 0.001
    duration = info["duration"]
    assert isinstance(duration, float) and VFR_PTS[-1] < duration <= VFR_PTS[-1] + 0.1


def test_pts_are_relative_to_the_first_frame(tmp_path: Path) -> None:
    path = tmp_path / "offset.mp4"
    with VideoWriter(path) as writer:
        for i, t in enumerate([100.0, 100.04, 100.2]):
            writer.write(picture(i), t)
    pts, _ = decode(path)
    assert np.allclose(pts, [0.0, 0.04, 0.2], atol=0.001)


def test_non_increasing_pts_are_bumped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "dup.mp4"
    with VideoWriter(path) as writer:
        for i, t in enumerate([0.0, 0.1, 0.1, 0.05, float("nan"), 0.3]):
            writer.write(picture(i), t)
    assert writer.pts_fixups == 3
    pts, _ = decode(path)
    assert len(pts) == 6 and all(b > a for a, b in itertools.pairwise(pts))
    assert abs(pts[-1] - 0.3) < 0.001


def test_odd_sizes_are_cropped_to_even_and_size_changes_resized(tmp_path: Path) -> None:
    path = tmp_path / "odd.mp4"
    with VideoWriter(path) as writer:
        writer.write(picture(0, 121, 161), 0.0)
        assert writer.size_wh == (160, 120)
        writer.write(picture(1, 240, 320), 0.04)  # the source changed resolution mid-stream
        assert writer.resized_frames == 1
    pts, info = decode(path)
    assert info["size"] == (160, 120) and len(pts) == 2


def test_file_is_fragmented_and_survives_being_cut_while_open(tmp_path: Path) -> None:
    path = tmp_path / "live.mp4"
    cut = tmp_path / "cut.mp4"
    fps, seconds = 30.0, 5.0
    writer = VideoWriter(path, fps_hint=fps)
    n = int(fps * seconds)
    for i in range(n):
        writer.write(picture(i), i / fps)
    shutil.copyfile(path, cut)  # what a kill -9 right now would leave on disk
    last_written = (n - 1) / fps
    writer.close()

    assert b"moof" in path.read_bytes()
    pts, info = decode(cut)
    assert info["codec"] == "h264"
    assert pts, "the cut file decodes nothing"
    assert max(pts) >= last_written - 2.0  # at most ~2 s lost
    expected = [i / fps for i in range(n) if i / fps <= last_written - 2.0]
    assert np.allclose(pts[: len(expected)], expected, atol=0.001)
    full, _ = decode(path)
    assert len(full) == n


def test_sigkill_leaves_a_playable_file(tmp_path: Path) -> None:
    path = tmp_path / "killed.mp4"
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        import numpy as np
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from streamseg.record import VideoWriter
        w = VideoWriter({str(path)!r}, fps_hint=25.0)
        for i in range(125):
            img = np.random.default_rng(i).integers(0, 256, (120, 160, 3), dtype=np.uint8)
            w.write(img, i / 25.0)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    pts, info = decode(path)
    assert info["codec"] == "h264" and pts
    assert max(pts) >= 124 / 25.0 - 2.0


def test_close_is_idempotent_and_write_after_close_fails(tmp_path: Path) -> None:
    path = tmp_path / "c.mp4"
    writer = VideoWriter(path)
    writer.write(picture(0), 0.0)
    writer.close()
    writer.close()
    with pytest.raises(OutputError, match="closed"):
        writer.write(picture(1), 0.04)


def test_no_frames_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    with VideoWriter(path):
        assert path.exists()  # created up front, so problems show at start-up
    assert not path.exists()


def test_options_from_config(tmp_path: Path) -> None:
    path = tmp_path / "cfg.mp4"
    cfg = OutputConfig(record=str(path), crf=35, preset="ultrafast")
    with VideoWriter.from_config(path, cfg, fps_hint=25.0) as writer:
        for i in range(5):
            writer.write(picture(i), i / 25)
    pts, info = decode(path)
    assert len(pts) == 5 and info["codec"] == "h264"
    with pytest.raises(ValueError, match="crf"):
        VideoWriter(tmp_path / "x.mp4", crf=99)


@pytest.mark.parametrize("kind", ["missing_dir", "parent_is_file", "is_dir", "read_only_dir"])
def test_unwritable_paths_raise_output_error(tmp_path: Path, kind: str) -> None:
    if kind == "missing_dir":
        path = tmp_path / "nope" / "out.mp4"
    elif kind == "parent_is_file":
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "out.mp4"
    elif kind == "is_dir":
        path = tmp_path
    else:
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            pytest.skip("root ignores directory permissions")
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        path = ro / "out.mp4"
    with pytest.raises(OutputError) as info:
        VideoWriter(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert isinstance(info.value, OSError)


def test_record_path_for() -> None:
    assert record_path_for("out.mp4", "cam0", 1) == Path("out.mp4")
    assert record_path_for("out.mp4", "cam0", 2) == Path("out_cam0.mp4")
    assert record_path_for("rec/out.mp4", "street cam/1", 3) == Path("rec/out_street_cam_1.mp4")
    assert record_path_for("rec/out", "a", 2) == Path("rec/out_a.mp4")
    # Issue 30, item 9: names in other scripts once all recorded to out_source.mp4; '..' is a name too
    assert record_path_for("rec/out.mp4", "кухня", 2) == Path("rec/out_кухня.mp4")
    assert record_path_for("rec/out.mp4", "двор", 2) == Path("rec/out_двор.mp4")
    assert record_path_for("rec/out.mp4", "..", 2) == Path("rec/out___.mp4")


def test_real_vfr_clip_keeps_its_timestamps(
    tmp_path: Path, real_frames: list[tuple[np.ndarray, float]]
) -> None:
    path = tmp_path / "office.mp4"
    t0 = real_frames[0][1]
    with VideoWriter(path, fps_hint=29.5) as writer:
        for image, t in real_frames:
            writer.write(image, t)
    pts, info = decode(path)
    want = [t - t0 for _, t in real_frames]
    assert info["size"] == (1280, 720) and len(pts) == len(want)
    assert np.abs(np.array(pts) - np.array(want)).max() < 0.001


def test_source_restart_rebases_instead_of_squeezing(tmp_path: Path) -> None:
    path = tmp_path / "restart.mp4"
    written = [10.0, 10.04, 10.08, 3.0, 3.04, 3.08]  # e.g. an RTSP reconnect restarting the clock
    with VideoWriter(path, fps_hint=25.0) as writer:
        for i, t in enumerate(written):
            writer.write(picture(i), t)
    assert writer.pts_restarts == 1 and writer.pts_fixups == 0
    pts, _ = decode(path)
    assert np.allclose(pts, [0.0, 0.04, 0.08, 0.12, 0.16, 0.20], atol=0.001)
