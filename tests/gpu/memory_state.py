"""Device memory bookkeeping made fresh for one test: rings, ledgers, budgets and handed-over frames.

The registries are process-wide (every pipeline on a device shares its budget), and other tests leave
CPU rings behind; a test that counts bytes gets empty ones for its block, and the old ones back after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from streamseg.gpu import budget, ring, spill
from streamseg.gpu.budget import FrameLedger, MemoryBudget, ledger_for, set_budget

CPU = torch.device("cpu")


@contextmanager
def fresh_memory(limits: MemoryBudget | None = None, device: torch.device = CPU) -> Iterator[FrameLedger]:
    """Empty registries for the block (``limits``: the device's budget); yields the device's ledger."""
    saved = (ring._rings, ring._dropped, budget._budgets, budget._ledgers, spill._handed, spill._prune_at)
    ring._rings, ring._dropped, budget._budgets, budget._ledgers = {}, {}, {}, {}
    spill._handed, spill._prune_at = {}, {}
    try:
        if limits is not None:
            set_budget(device, limits)
        yield ledger_for(device)
    finally:
        ring._rings, ring._dropped, budget._budgets, budget._ledgers, spill._handed, spill._prune_at = saved
