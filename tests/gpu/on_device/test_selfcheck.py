"""The GPU self-check and the CUDA probe on a real GPU (opt-in, see conftest): a kernel runs, the wheel
has code for the GPU, NVDEC decodes like the CPU, graphs replay like eager; the start-up line's form;
the cache read by a second call; ``streamseg doctor --deep``; a real out-of-memory error as one line.

These tests have NOT been run yet: no GPU was lent when they were written (issue 25).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from streamseg.config import Config, ModelConfig, OutputConfig
from streamseg.gpu.arch import arch_problem
from streamseg.gpu.failures import describe
from streamseg.gpu.kernel import launch_problem
from streamseg.inference.runtimes.probe import cuda_check
from streamseg.pipeline.plan import plan_run
from streamseg.pipeline.selfcheck import at_start, start
from streamseg.pipeline.selfcheck.steps import GRAPHS, KERNEL, NVDEC, Step
from tests.conftest import FIXTURE_PT, REPO, require_asset

LINE = re.compile(
    r"^GPU self-check \(cuda:0 (?P<gpu>.+), (?P<when>\d+\.\d s|cached)\): "
    r"decode (?P<decode>NVDEC|CPU.*?), postprocess cuda:0, overlay cuda:0, "
    r"CUDA graphs (?P<graphs>on|off \(.+\)), encoder (?P<encoder>NVENC|x264.*)$"
)


def _config(cuda_device: str) -> Config:
    model = ModelConfig(path=str(require_asset(FIXTURE_PT)), device=cuda_device, backend="torch")
    return Config(model=model, output=OutputConfig(record="out.mp4"))


def test_the_probe_runs_a_kernel_on_this_gpu(cuda_device: str) -> None:
    index = torch.device(cuda_device).index or 0
    assert arch_problem(torch.cuda.get_arch_list(), torch.cuda.get_device_capability(index)) is None
    assert launch_problem(torch.device(cuda_device)) is None
    check = cuda_check(index)
    assert check.ok, check.detail


def test_the_self_check_line_and_its_cache(
    cuda_device: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config(cuda_device)
    plan = plan_run(cfg)
    report = at_start(cfg, plan, cache_dir=tmp_path)
    assert report.line is not None
    match = LINE.match(report.line)
    assert match is not None, report.line
    assert match["when"] != "cached"
    assert match["gpu"] == torch.cuda.get_device_name(0)
    assert report.steps[KERNEL] == Step(KERNEL, True)
    if plan.decode is not None and plan.decode.nvdec:
        assert report.steps[NVDEC].ok, report.steps[NVDEC].why  # a working GPU decodes like the CPU
        assert match["decode"] == "NVDEC"
    assert report.steps[GRAPHS].ok, report.steps[GRAPHS].why  # graphs replay like eager here
    assert match["graphs"] == "on" and report.config.model.cuda_graphs == cfg.model.cuda_graphs
    assert not report.turned_off
    saved = json.loads((tmp_path / "selfcheck.json").read_text())
    assert len(saved) == 1 and KERNEL in next(iter(saved.values()))

    def must_not_run(*args: object) -> Step:
        raise AssertionError("a cached step ran again")

    monkeypatch.setattr(start, "decode_step", must_not_run)
    monkeypatch.setattr(start, "graphs_step", must_not_run)
    monkeypatch.setattr(start, "device_runs_code", must_not_run)
    again = at_start(cfg, plan, cache_dir=tmp_path)
    assert again.line is not None
    second = LINE.match(again.line)
    assert second is not None and second["when"] == "cached", again.line
    assert again.steps == report.steps


def test_doctor_deep_on_this_gpu(cuda_device: str, tmp_path: Path) -> None:
    env = {**os.environ, "STREAMSEG_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "streamseg", "doctor", "--deep", "--device", cuda_device]
    command += ["--model", str(require_asset(FIXTURE_PT)), "--engines-dir", str(tmp_path / "engines")]
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=REPO, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert LINE.match(lines[-1]) is not None, proc.stdout
    steps = [line for line in lines if line[4:].startswith(("test kernel", "NVDEC vs CPU", "CUDA graphs vs"))]
    assert steps and all(line.startswith("ok ") for line in steps), proc.stdout
    assert (tmp_path / "cache" / "selfcheck.json").is_file()


def test_a_real_out_of_memory_is_one_line(cuda_device: str) -> None:
    with pytest.raises(torch.OutOfMemoryError) as caught:
        torch.empty(1 << 50, dtype=torch.uint8, device=cuda_device)  # a petabyte
    failure = describe(caught.value)
    assert failure is not None and failure.kind == "out of memory"
    assert "tried to allocate" in failure.line and "--batch" in failure.line and "\n" not in failure.line
