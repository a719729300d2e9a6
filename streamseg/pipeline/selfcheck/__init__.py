"""The GPU self-check: what the first run on a user's GPU proves before it trusts the GPU path.

On a GPU nothing of the device path has been seen to work until it runs there, and the first GPU it
meets is a user's. So a run whose model is on CUDA first checks, in a few seconds, what it is about to
rely on, and turns off what fails, saying so in one line: a real kernel launch and the wheel's code
for this GPU (``kernel``), NVDEC against the CPU decoder on a tiny clip (``decode``), and the batch's
CUDA graphs against the eager run at two buckets (``graphs``). Results are cached per GPU, driver,
PyTorch, model and streamseg version (``cache``), so a restart does not pay again. ``start`` runs it
(``at_start`` for ``Pipeline.open``, ``deep`` for ``streamseg doctor --deep``); ``line`` words it.
"""

from __future__ import annotations

from streamseg.pipeline.selfcheck.start import SelfCheckReport, at_start, deep
from streamseg.pipeline.selfcheck.steps import Step

__all__ = ["SelfCheckReport", "Step", "at_start", "deep"]
