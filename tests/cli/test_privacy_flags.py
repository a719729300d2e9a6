"""``run``'s privacy flags: taught by ``--help``, merged over the config file's top-level ``privacy:``
(a source's own section and the areas kept), and each mistake one line on stderr, exit 2. No model
is loaded: the run itself is replaced by one that keeps the config it is given."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamseg.cli.main import build_parser, config_from_args, main
from streamseg.config import Config, PrivacyConfig, privacy_for
from tests.cli.test_main import run_cli


def config_of(*flags: str) -> Config:
    return config_from_args(build_parser().parse_args(["run", "a.mp4", *flags]))


def test_help_teaches_the_privacy_group() -> None:
    proc = run_cli("run", "--help", timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    for needle in (
        "privacy: Hide people (or any class of the model) by their masks in every picture that leaves",
        "recordings, clips, snapshots, published streams",
        "configs/privacy.yaml",
        "(--save-results) still holds every mask and box",
        "--privacy CLASSES comma-separated classes hidden by their masks, e.g. person or person,car",
        "--privacy-style {blur,pixelate,fill}",
        "--privacy-grow PX",
        "--privacy-max-gap SECONDS",
    ):
        assert needle in text, needle


def test_no_flags_leave_the_defaults() -> None:
    assert config_of().privacy == PrivacyConfig()


def test_flags_override_the_files_section_and_keep_the_rest(tmp_path: Path) -> None:
    cfg_file = tmp_path / "cams.yaml"
    cfg_file.write_text(
        "privacy:\n"
        "  objects: [person]\n"
        "  style: pixelate\n"
        "  areas: [{polygon: [[0, 0], [0.5, 0], [0.5, 0.5]]}]\n"
        "sources:\n"
        "  - {uri: rtsp://cam/a, name: a, privacy: {objects: [], grow: 10}}\n",
        encoding="utf-8",
    )
    cfg = config_from_args(
        build_parser().parse_args(
            ["run", "--config", str(cfg_file), "--privacy", " person, car ,person", "--privacy-grow", "0"]
        )
    )
    run = cfg.privacy
    assert (run.objects, run.style, run.grow, run.max_gap) == (("person", "car"), "pixelate", 0, 1.0)
    assert len(run.areas) == 1
    own = privacy_for(run, cfg.sources[0].privacy)  # the source's own keys still win over the flags
    assert (own.objects, own.grow, own.style, own.areas) == ((), 10, "pixelate", run.areas)
    flags = config_of("--privacy-style", "fill", "--privacy-max-gap", "2.5").privacy
    assert flags == PrivacyConfig(style="fill", max_gap=2.5)


def test_main_runs_with_the_flags(ran: list[Config]) -> None:
    assert main(["run", "a.mp4", "-q", "--privacy", "person", "--privacy-style", "fill"]) == 0
    assert [c.privacy for c in ran] == [PrivacyConfig(objects=("person",), style="fill")]


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (["--privacy-grow", "-3"], "--privacy-grow must be 0..256 pixels, got -3"),
        (["--privacy-grow", "257"], "--privacy-grow must be 0..256 pixels, got 257"),
        (
            ["--privacy", "person,,car"],
            "--privacy 'person,,car' has an empty class name: give classes separated by commas, e.g. "
            "person,car",
        ),
        (
            ["--privacy", ""],
            "--privacy '' has an empty class name: give classes separated by commas, e.g. person,car",
        ),
        (["--privacy-max-gap", "0"], "--privacy-max-gap must be 0.05..3600 seconds, got 0"),
        (["--privacy-max-gap", "nan"], "--privacy-max-gap must be 0.05..3600 seconds, got nan"),
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
    cfg_file.write_text("sources: [{uri: rtsp://cam/a, privacy: {grow: -3}}]\n", encoding="utf-8")
    assert main(["run", "--config", str(cfg_file)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"streamseg: error: {cfg_file}: sources[0].privacy.grow must be an integer 0..256 (pixels), got -3"
    ]
    assert ran == []


def test_a_style_that_does_not_exist_is_argparses_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["run", "--privacy-style", "sepia"])
    assert caught.value.code == 2
    assert "argument --privacy-style: invalid choice: 'sepia'" in capsys.readouterr().err


def test_a_class_the_model_does_not_have_is_one_line_and_exit_2(engines_dir: Path) -> None:
    """Known only once the model is loaded: the run stops before any thread starts, with the nearest
    class name."""
    from tests.cli.test_main import assert_one_line_error
    from tests.conftest import FIXTURE_PT, VIDEOS

    clip = VIDEOS / "street_pedestrians_720p30.mp4"
    proc = run_cli(
        "run", str(clip), "--model", str(FIXTURE_PT), "--privacy", "persn", "--engines-dir", str(engines_dir)
    )  # fmt: skip
    assert proc.returncode == 2
    assert_one_line_error(proc, "unknown class 'persn'", "did you mean 'person'")
