"""``run``'s detect-rate and motion flags: taught by ``--help``, merged over the config file's
top-level ``detect:`` (a source's own keys kept), and each mistake one line on stderr, exit 2. No model
is loaded: the run itself is replaced by one that keeps the config it is given."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamseg.cli.main import build_parser, config_from_args, main
from streamseg.config import Config, DetectConfig, MotionConfig, detect_for
from tests.cli.test_main import run_cli


def config_of(*flags: str) -> Config:
    return config_from_args(build_parser().parse_args(["run", "a.mp4", *flags]))


def test_help_teaches_the_detect_group() -> None:
    proc = run_cli("run", "--help", timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    for needle in (
        "detect rate and motion: Every frame is still decoded, recorded and shown; these decide which "
        "frames the network sees.",
        "The others carry the latest result",
        "configs/nvr.yaml",
        "--detect-fps N the network sees at most N frames per second of stream time per source",
        "--motion motion gating: the network sees a frame only when something in it moves, or a track is "
        "still live",
        "--motion-threshold N grey levels a pixel must change by to count as moving, 1..255",
        "--motion-min-area SHARE share of the picture that must move",
    ):
        assert needle in text, needle


def test_no_flags_leave_the_defaults() -> None:
    assert config_of().detect == DetectConfig()


def test_flags_set_the_rate_and_turn_motion_on() -> None:
    assert config_of("--detect-fps", "5").detect == DetectConfig(fps=5.0)
    assert config_of("--motion").detect == DetectConfig(motion=MotionConfig(enabled=True))
    implied = config_of("--motion-threshold", "40", "--motion-min-area", "0.01").detect
    assert implied == DetectConfig(motion=MotionConfig(enabled=True, threshold=40, min_area=0.01))


def test_flags_override_the_files_section_and_keep_the_rest(tmp_path: Path) -> None:
    cfg_file = tmp_path / "cams.yaml"
    cfg_file.write_text(
        "detect:\n"
        "  fps: 5\n"
        "  motion: {enabled: false, threshold: 30, width: 160,"
        " ignore: [{polygon: [[0.8, 0.0], [1.0, 0.0], [1.0, 0.1]]}]}\n"
        "sources:\n"
        "  - {uri: rtsp://cam/a, name: a, detect_fps: 1, motion: {min_area: 0.05}}\n",
        encoding="utf-8",
    )
    args = ["run", "--config", str(cfg_file), "--motion", "--motion-min-area", "0.004"]
    cfg = config_from_args(build_parser().parse_args(args))
    run = cfg.detect
    assert run.fps == 5.0 and len(run.motion.ignore) == 1
    assert (run.motion.enabled, run.motion.threshold, run.motion.min_area, run.motion.width) == (
        True,
        30,
        0.004,
        160,
    )
    own = detect_for(run, cfg.sources[0].detect)  # the source's own keys still win over the flags
    assert own == DetectConfig(fps=1.0, motion=MotionConfig(enabled=True, min_area=0.05))
    args = ["run", "--config", str(cfg_file), "--detect-fps", "2.5"]
    as_written = MotionConfig(enabled=False, threshold=30, width=160, ignore=run.motion.ignore)
    assert config_from_args(build_parser().parse_args(args)).detect == DetectConfig(2.5, as_written)


def test_main_runs_with_the_flags(ran: list[Config]) -> None:
    assert main(["run", "a.mp4", "-q", "--detect-fps", "2", "--motion"]) == 0
    assert [c.detect for c in ran] == [DetectConfig(fps=2.0, motion=MotionConfig(enabled=True))]


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (["--detect-fps", "0"], "--detect-fps must be > 0 (leave it out to infer every frame), got 0"),
        (["--detect-fps", "-1"], "--detect-fps must be > 0 (leave it out to infer every frame), got -1"),
        (["--detect-fps", "1e6"], "--detect-fps must be at most 1000 frames per second, got 1e+06"),
        (["--detect-fps", "nan"], "--detect-fps must be a number of frames per second, got nan"),
        (["--motion-threshold", "300"], "--motion-threshold must be 1..255 grey levels, got 300"),
        (["--motion-threshold", "0"], "--motion-threshold must be 1..255 grey levels, got 0"),
        (["--motion-min-area", "0"], "--motion-min-area must be a share of the picture in (0, 1], got 0"),
        (["--motion-min-area", "1.5"], "--motion-min-area must be a share of the picture in (0, 1], got 1.5"),
        (["--motion-min-area", "inf"], "--motion-min-area must be a share of the picture in (0, 1], got inf"),
    ],
)
def test_a_bad_flag_is_one_line_and_exit_2(
    ran: list[Config], capsys: pytest.CaptureFixture[str], flags: list[str], line: str
) -> None:
    assert main(["run", "a.mp4", "-q", *flags]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"streamseg: error: {line}"] and "Traceback" not in err, err
    assert ran == []


def test_a_bad_section_in_the_file_is_one_line_too(
    ran: list[Config], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cfg_file = tmp_path / "cams.yaml"
    cfg_file.write_text("sources: [{uri: rtsp://cam/a, detect_fps: 0}]\n", encoding="utf-8")
    assert main(["run", "--config", str(cfg_file)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"streamseg: error: {cfg_file}: sources[0].detect_fps must be > 0 (leave it out to infer every "
        "frame), got 0"
    ]
    assert ran == []


def test_a_threshold_that_is_not_a_number_is_argparses_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["run", "--motion-threshold", "high"])
    assert caught.value.code == 2
    assert "argument --motion-threshold: invalid int value: 'high'" in capsys.readouterr().err
