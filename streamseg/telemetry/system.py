"""Process memory readings: RSS (psutil) and GPU memory (NVML, only where a GPU exists).

GPU support is optional: if ``pynvml`` is missing or NVML cannot initialise (no driver, no GPU),
the GPU reading is simply absent. That is the normal case on CPU machines, so it is logged at debug
level once, never as a warning.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

import psutil

logger = logging.getLogger(__name__)


def rss_bytes() -> int | None:
    """Resident set size of this process now."""
    try:
        return int(psutil.Process().memory_info().rss)
    except (psutil.Error, OSError) as exc:
        logger.debug("cannot read RSS: %s", exc)
        return None


def peak_rss_bytes() -> int | None:
    """Highest RSS this process has had, from the kernel (so short spikes between samples count).

    Linux's ``VmHWM`` first: ``ru_maxrss`` survives ``exec``, so a process started by a big parent
    (a test runner, a supervisor) would report the parent's peak as its own.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource  # noqa: PLC0415  (Unix only)
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024  # Linux reports KiB


class GpuMemoryProbe:
    """GPU memory used by this process on one device (or by the whole device if per-process is unknown).

    NVML is initialised lazily on the first ``read`` and, if that fails, never tried again.
    """

    def __init__(self, device_index: int = 0) -> None:
        self.device_index = device_index
        self._pid = os.getpid()
        self._nvml: Any = None
        self._handle: Any = None
        self._state = "new"  # new -> ready | unavailable -> closed
        self._lock = threading.Lock()
        self._read_failed = False

    @property
    def available(self) -> bool:
        with self._lock:
            return self._ensure_init()

    def read(self) -> int | None:
        """Bytes of GPU memory, or None when there is no usable GPU."""
        with self._lock:
            if not self._ensure_init():
                return None
            nvml = self._nvml
            try:
                for proc in nvml.nvmlDeviceGetComputeRunningProcesses(self._handle):
                    used = getattr(proc, "usedGpuMemory", None)
                    if proc.pid == self._pid and used is not None:
                        return int(used)
                # Not listed (e.g. a container's PID namespace hides it): report the device total.
                return int(nvml.nvmlDeviceGetMemoryInfo(self._handle).used)
            except Exception as exc:  # NVMLError or driver hiccup: skip this reading only
                if not self._read_failed:
                    self._read_failed = True
                    logger.debug("NVML memory query failed: %s", exc)
                return None

    def close(self) -> None:
        with self._lock:
            if self._state == "ready":
                try:
                    self._nvml.nvmlShutdown()
                except Exception as exc:
                    logger.debug("nvmlShutdown failed: %s", exc)
            self._state = "closed"

    def _ensure_init(self) -> bool:
        if self._state == "new":
            self._state = "unavailable"
            try:
                import pynvml  # noqa: PLC0415  (optional dependency)

                pynvml.nvmlInit()
            except Exception as exc:
                logger.debug("GPU memory telemetry unavailable: %s", exc)
                return False
            try:
                self._handle = pynvml.nvmlDeviceGetHandleByIndex(self.device_index)
            except Exception as exc:
                logger.debug("no GPU %d for memory telemetry: %s", self.device_index, exc)
                try:
                    pynvml.nvmlShutdown()
                except Exception:
                    logger.debug("nvmlShutdown failed", exc_info=True)
                return False
            self._nvml = pynvml
            self._state = "ready"
        return self._state == "ready"


class SystemProbe:
    """Reads the memory fields of a snapshot; keys whose value is unknown are left out."""

    def __init__(self, gpu_index: int | None = 0) -> None:
        self._gpu = GpuMemoryProbe(gpu_index) if gpu_index is not None else None

    def read(self) -> dict[str, int]:
        out: dict[str, int] = {}
        rss = rss_bytes()
        if rss is not None:
            out["rss_bytes"] = rss
        peak = peak_rss_bytes()
        if peak is not None:
            out["rss_peak_bytes"] = max(peak, rss or 0)
        if self._gpu is not None:
            gpu = self._gpu.read()
            if gpu is not None:
                out["gpu_memory_bytes"] = gpu
        return out

    def close(self) -> None:
        if self._gpu is not None:
            self._gpu.close()
