"""``streamseg doctor --deep`` as a user runs it: on a machine without a GPU, one line says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def test_doctor_deep_without_a_gpu_says_so_in_one_line(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: tests/gpu/on_device runs doctor --deep there")
    env = {**os.environ, "STREAMSEG_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "streamseg", "doctor", "--deep"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    deep = [line for line in proc.stdout.splitlines() if line.startswith("GPU self-check")]
    assert len(deep) == 1, proc.stdout
    assert deep[0].startswith("GPU self-check: no GPU here (") and deep[0].endswith("); nothing to check")
    assert proc.stdout.rstrip().endswith(deep[0])  # the last word
    assert not (tmp_path / "cache").exists()  # nothing was checked, nothing cached


def test_doctor_help_names_deep() -> None:
    from streamseg.cli.main import build_parser

    doctor = build_parser()._subparsers._group_actions[0].choices["doctor"]  # type: ignore[union-attr]
    assert "--deep" in doctor.format_help()


def test_a_run_prints_the_self_check_line(capsys: pytest.CaptureFixture[str]) -> None:
    """``run`` prints the line ``Pipeline.open`` left on the pipeline (``selfcheck``), when there is one."""
    import types

    from streamseg.cli.run import _print_selfcheck
    from streamseg.config import Config
    from streamseg.pipeline.selfcheck import SelfCheckReport

    line = "GPU self-check (cuda:0 NVIDIA L4, cached): decode NVDEC, postprocess cuda:0"
    _print_selfcheck(types.SimpleNamespace(selfcheck=SelfCheckReport(line, Config(), None)))  # type: ignore[arg-type]
    _print_selfcheck(types.SimpleNamespace(selfcheck=SelfCheckReport(None, Config(), None)))  # type: ignore[arg-type]
    _print_selfcheck(types.SimpleNamespace())  # type: ignore[arg-type]
    assert capsys.readouterr().err.splitlines() == [f"streamseg: {line}"]
