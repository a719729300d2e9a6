"""Whether a PyTorch wheel has GPU code for a GPU: its arch list against the device's capability.

Why ask before the first kernel: a wheel without code for the GPU (a new GPU, an old wheel) fails at
the first launch with "no kernel image is available", which names neither the GPU nor the fix. The
rule is CUDA's: a cubin for ``sm_XY`` runs on capability X.Y and on later minors of the same major
(``sm_80`` runs on 8.6); PTX (``compute_XY``) is compiled by the driver for any capability >= X.Y;
an arch-specific cubin (``sm_90a``) runs only on its own capability. Pure, so CPU CI tests it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_ENTRY = re.compile(r"(sm|compute)_(\d+)(\d)([a-z]?)")


@dataclass(frozen=True, order=True)
class ArchEntry:
    """One entry of ``torch.cuda.get_arch_list()``: ``sm_86`` (code) or ``compute_90`` (PTX)."""

    major: int
    minor: int
    ptx: bool = False
    specific: bool = False  # sm_90a: runs only on 9.0

    @property
    def name(self) -> str:
        return f"{'compute' if self.ptx else 'sm'}_{self.major}{self.minor}{'a' if self.specific else ''}"

    def runs_on(self, capability: tuple[int, int]) -> bool:
        major, minor = capability
        if self.specific:
            return (self.major, self.minor) == capability
        if self.ptx:
            return (self.major, self.minor) <= capability
        return self.major == major and self.minor <= minor


def parse_arch(entry: str) -> ArchEntry | None:
    """``"sm_86"`` -> 8.6 code; ``"compute_90"`` -> 9.0 PTX; anything else -> None."""
    match = _ENTRY.fullmatch(entry.strip())
    if match is None:
        return None
    kind, major, minor, suffix = match.groups()
    return ArchEntry(int(major), int(minor), ptx=kind == "compute", specific=suffix == "a")


def arch_problem(arch_list: Sequence[str], capability: tuple[int, int]) -> str | None:
    """None when the wheel built for ``arch_list`` runs on a GPU of ``capability``, else one line why."""
    entries = sorted(e for e in (parse_arch(a) for a in arch_list) if e is not None)
    if any(e.runs_on(capability) for e in entries):
        return None
    gpu = f"sm_{capability[0]}{capability[1]}"
    if not entries:
        return f"this PyTorch has no CUDA kernels (a CPU build?), the GPU is {gpu} (install a CUDA build)"
    code = [e for e in entries if not e.ptx]
    have = f"{code[0].name}..{code[-1].name}" if len(code) > 1 else code[0].name if code else "none"
    ptx = [e.name for e in entries if e.ptx]
    also = f" and PTX {', '.join(ptx)}" if ptx else ""
    return f"this PyTorch has kernels for {have}{also}, the GPU is {gpu} (install a PyTorch build for it)"
