"""The degradation ladder: what live sources give up, rung by rung, when inference cannot keep up.

Rung 0 is full quality. Going down, each rung changes one thing:

1. **Fair frame striding**, tier by tier: every camera of the lowest priority tier is processed every
   2nd frame, then the next tier too, and so on (``priority: low | normal | high`` per source).
2. **A smaller network input**: the next stride-aligned size down (at most 80 % of the last per side,
   so ~36 % fewer pixels), one size per rung, never below ``latency.min_imgsz`` (default 256: the
   coarsest YOLO grid is then 8 cells across; smaller, people a few metres away are lost). Only for
   models whose input size can change: a TensorRT plan or a static ONNX has one size and skips these.
3. **More striding**: every 3rd frame, then every 4th ... up to ``latency.max_stride``, again lowest
   priority first.

A stride of k with phase p processes the frames whose index is p modulo k; cameras get different
phases, so the load is spread over time instead of all cameras landing in the same batch. Each rung
carries its cost relative to rung 0 (frames per second times input pixels), which the governor uses
to judge whether there is room to climb back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PRIORITY_ORDER = ("low", "normal", "high")  # degraded in this order
SHRINK = 0.8  # each smaller input is at most this fraction of the previous one, per side


@dataclass(frozen=True)
class Rung:
    """One state of the ladder: a stride per live source and the network input size."""

    strides: Mapping[str, int]
    imgsz: int
    cost: float  # inference work relative to rung 0
    label: str  # what the rung means, for logs, the summary and the dashboard


def smaller_sizes(imgsz: int, floor: int, stride: int = 32) -> list[int]:
    """Input sizes below ``imgsz`` down to ``floor``: each the largest multiple of ``stride`` within
    ``SHRINK`` of the one before (640 -> 512, 384, 288, 256 with the default floor)."""
    floor = max(stride, -(-floor // stride) * stride)
    sizes: list[int] = []
    size = imgsz
    while size > floor:
        size = max(floor, int(size * SHRINK) // stride * stride)
        sizes.append(size)
    return sizes


def build_ladder(
    priorities: Mapping[str, str],
    imgsz: int,
    *,
    min_imgsz: int,
    max_stride: int,
    resizable: bool,
    stride: int = 32,
) -> list[Rung]:
    """Rungs for the live sources in ``priorities`` (name -> low/normal/high), rung 0 first."""
    steps: list[tuple[str, int]] = [("stride", 2)] if max_stride >= 2 else []
    if resizable:
        steps += [("imgsz", size) for size in smaller_sizes(imgsz, min_imgsz, stride)]
    steps += [("stride", k) for k in range(3, max_stride + 1)]
    tiers = [p for p in PRIORITY_ORDER if p in priorities.values()]
    strides = dict.fromkeys(priorities, 1)
    size = imgsz
    rungs = [_rung(strides, size, imgsz, priorities)]
    for what, value in steps:
        if what == "imgsz":
            size = value
            rungs.append(_rung(strides, size, imgsz, priorities))
            continue
        for tier in tiers:  # lowest priority first, one tier per rung
            strides.update({name: value for name, p in priorities.items() if p == tier})
            rungs.append(_rung(strides, size, imgsz, priorities))
    return rungs


def phases(names: Sequence[str], stride: int) -> dict[str, int]:
    """Round-robin phases: consecutive sources of the same stride land on different frames."""
    return {name: i % stride for i, name in enumerate(names)}


def _rung(strides: Mapping[str, int], imgsz: int, base: int, priorities: Mapping[str, str]) -> Rung:
    n = max(1, len(strides))
    rate = sum(1 / k for k in strides.values()) / n if strides else 1.0
    return Rung(dict(strides), imgsz, rate * (imgsz / base) ** 2, _label(strides, imgsz, priorities))


def _label(strides: Mapping[str, int], imgsz: int, priorities: Mapping[str, str]) -> str:
    by_tier: dict[str, int] = {}
    for name, k in strides.items():
        by_tier[priorities[name]] = k
    if len(set(by_tier.values())) <= 1:
        k = next(iter(by_tier.values()), 1)
        frames = "every frame" if k == 1 else f"every {_nth(k)} frame"
    else:
        frames = ", ".join(
            f"{tier}: {'every frame' if by_tier[tier] == 1 else 'every ' + _nth(by_tier[tier]) + ' frame'}"
            for tier in PRIORITY_ORDER
            if tier in by_tier
        )
    return f"{frames}, input {imgsz}"


def _nth(k: int) -> str:
    return f"{k}{'nd' if k == 2 else 'rd' if k == 3 else 'th'}"
