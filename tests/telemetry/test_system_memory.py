"""System probes: RSS always, GPU memory only when NVML works, silently absent otherwise."""

from __future__ import annotations

import logging
import subprocess
import sys
import types
from typing import Any

import pytest

from streamseg.telemetry.system import GpuMemoryProbe, SystemProbe, peak_rss_bytes, rss_bytes


def test_rss_readings() -> None:
    rss = rss_bytes()
    peak = peak_rss_bytes()
    assert rss is not None and rss > 0
    assert peak is not None and peak >= rss // 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="exec keeps ru_maxrss on Linux")
def test_peak_rss_is_this_process_not_the_one_it_was_exec_ed_from() -> None:
    """A process exec'ed by a big parent (a test runner, a supervisor) reports its own peak."""
    child = "from streamseg.telemetry.system import peak_rss_bytes; print(peak_rss_bytes())"
    big_then_exec = (
        "import os, sys; ballast = b'x' * (600 << 20); "
        f"os.execv(sys.executable, [sys.executable, '-c', {child!r}])"
    )
    out = subprocess.run([sys.executable, "-c", big_then_exec], capture_output=True, text=True, check=True)
    assert int(out.stdout) < 400 << 20, out.stdout


def _fake_pynvml(monkeypatch: pytest.MonkeyPatch, *, init_fails: bool = False, procs: Any = ()) -> Any:
    fake = types.ModuleType("pynvml")
    calls: dict[str, int] = {"init": 0, "shutdown": 0}

    def nvml_init() -> None:
        calls["init"] += 1
        if init_fails:
            raise RuntimeError("NVML Shared Library Not Found")

    def shutdown() -> None:
        calls["shutdown"] += 1

    fake.nvmlInit = nvml_init  # type: ignore[attr-defined]
    fake.nvmlShutdown = shutdown  # type: ignore[attr-defined]
    fake.nvmlDeviceGetHandleByIndex = lambda i: f"gpu{i}"  # type: ignore[attr-defined]
    fake.nvmlDeviceGetComputeRunningProcesses = lambda h: list(procs)  # type: ignore[attr-defined]
    fake.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=999, total=4000)  # type: ignore[attr-defined]
    fake.calls = calls  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    return fake


def test_gpu_absent_when_nvml_init_fails(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake = _fake_pynvml(monkeypatch, init_fails=True)
    probe = GpuMemoryProbe()
    with caplog.at_level(logging.INFO):
        assert probe.read() is None
        assert probe.read() is None
    assert fake.calls["init"] == 1  # not retried on every snapshot
    assert not caplog.records  # no warning spam; debug at most
    assert "gpu_memory_bytes" not in SystemProbe().read()


def test_gpu_absent_when_pynvml_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import raises ImportError
    assert GpuMemoryProbe().read() is None


def test_gpu_per_process_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    procs = [
        types.SimpleNamespace(pid=1, usedGpuMemory=5),
        types.SimpleNamespace(pid=os.getpid(), usedGpuMemory=77),
    ]
    fake = _fake_pynvml(monkeypatch, procs=procs)
    probe = GpuMemoryProbe()
    assert probe.read() == 77
    probe.close()
    assert fake.calls["shutdown"] == 1


def test_gpu_falls_back_to_device_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_pynvml(monkeypatch, procs=[types.SimpleNamespace(pid=1, usedGpuMemory=5)])
    assert SystemProbe(gpu_index=0).read()["gpu_memory_bytes"] == 999


def test_gpu_probe_disabled_by_index_none(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_pynvml(monkeypatch)
    assert "gpu_memory_bytes" not in SystemProbe(gpu_index=None).read()
    assert fake.calls["init"] == 0
