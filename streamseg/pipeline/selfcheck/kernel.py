"""Step one: the wheel has code for this GPU, and a kernel really runs on it.

Nothing else can run if this fails, so it does not turn a feature off: it stops the run with one line
(a ``GpuError``) that names the GPU, what the wheel has and what to install, or what the driver said.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamseg.errors import GpuError
from streamseg.gpu.arch import arch_problem
from streamseg.gpu.kernel import launch_problem
from streamseg.pipeline.selfcheck.steps import KERNEL, Step

if TYPE_CHECKING:
    import torch


def device_runs_code(device: torch.device) -> Step:
    """The passed step; raises ``GpuError`` when ``device`` cannot run our code (any device: on the
    CPU the kernel runs there)."""
    import torch  # noqa: PLC0415

    if device.type == "cuda":
        index = device.index or 0
        capability = torch.cuda.get_device_capability(index)
        problem = arch_problem(torch.cuda.get_arch_list(), capability)
        if problem is not None:
            raise GpuError(f"{device} {torch.cuda.get_device_name(index)}: {problem}", "no kernel image")
    problem = launch_problem(device)
    if problem is not None:
        raise GpuError(f"a test kernel failed on {device}: {problem}", "kernel")
    return Step(KERNEL, True)
