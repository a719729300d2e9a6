"""One real kernel launch, waited for: the proof that a device runs code, not only that it is listed.

Why: ``torch.cuda.is_available()`` and the device's name come from the driver without running anything
on the GPU; a wheel without code for the GPU, a driver too old for the wheel or a GPU out of memory
show only at the first launch, and asynchronously. A tiny launch and a synchronize, caught, turn that
into one line (``gpu.failures``) before anything else starts.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from streamseg.gpu.failures import one_line

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

PROBE_ELEMENTS = 1024


def launch_problem(device: torch.device) -> str | None:
    """None when a small elementwise kernel and a reduction run on ``device`` and give the right sum,
    else one line why (any device: on the CPU it runs there, which is how CPU CI checks it)."""
    import torch  # noqa: PLC0415

    try:
        values = torch.arange(PROBE_ELEMENTS, dtype=torch.float32, device=device)
        total = (values * 2.0 + 1.0).sum()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        got = float(total.item())
    except Exception as exc:  # whatever the driver says, as one line
        logger.debug("the test kernel failed on %s", device, exc_info=True)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return one_line(exc) or first
    expected = float(PROBE_ELEMENTS * PROBE_ELEMENTS)  # sum of 2i + 1 over i < n is n squared
    if got != expected:
        return f"a test kernel computed {got:.0f} instead of {expected:.0f} (the GPU gives wrong results)"
    return None
