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
phases (round-robin, in the order they joined), so the load is spread over time instead of all
cameras landing in the same batch. Each rung
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
    """One state of the ladder: a stride per priority tier and the network input size."""

    strides: Mapping[str, int]  # tier (low / normal / high) -> every how many frames a camera is processed
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
    cameras: Mapping[str, int],
    imgsz: int,
    *,
    min_imgsz: int,
    max_stride: int,
    resizable: bool,
    stride: int = 32,
) -> list[Rung]:
    """Rungs for ``cameras`` (tier -> how many live sources have it), rung 0 first."""
    steps: list[tuple[str, int]] = [("stride", 2)] if max_stride >= 2 else []
    if resizable:
        steps += [("imgsz", size) for size in smaller_sizes(imgsz, min_imgsz, stride)]
    steps += [("stride", k) for k in range(3, max_stride + 1)]
    tiers = [t for t in PRIORITY_ORDER if cameras.get(t)] or ["normal"]
    strides = dict.fromkeys(tiers, 1)
    size = imgsz
    rungs = [_rung(strides, size, imgsz, cameras)]
    for what, value in steps:
        if what == "imgsz":
            size = value
            rungs.append(_rung(strides, size, imgsz, cameras))
            continue
        for tier in tiers:  # lowest priority first, one tier per rung
            strides[tier] = value
            rungs.append(_rung(strides, size, imgsz, cameras))
    return rungs


def nearest_tier(priority: str, tiers: Sequence[str]) -> str:
    """The ladder's tier for a camera of ``priority`` (one added while running may bring a tier the
    ladder was not built with: it goes with the nearest one, the lower one on a tie)."""
    if priority in tiers:
        return priority
    rank = PRIORITY_ORDER.index(priority)
    return min(tiers, key=lambda t: (abs(PRIORITY_ORDER.index(t) - rank), PRIORITY_ORDER.index(t)))


def _rung(strides: Mapping[str, int], imgsz: int, base: int, cameras: Mapping[str, int]) -> Rung:
    n = sum(cameras.get(t, 0) for t in strides) or 1
    rate = sum(cameras.get(t, 0) / k for t, k in strides.items()) / n if any(cameras.values()) else 1.0
    return Rung(dict(strides), imgsz, rate * (imgsz / base) ** 2, _label(strides, imgsz))


def _label(strides: Mapping[str, int], imgsz: int) -> str:
    if len(set(strides.values())) <= 1:
        frames = _every(next(iter(strides.values()), 1))
    else:
        frames = ", ".join(f"{tier}: {_every(k)}" for tier, k in strides.items())
    return f"{frames}, input {imgsz}"


def _every(k: int) -> str:
    return "every frame" if k == 1 else f"every {k}{'nd' if k == 2 else 'rd' if k == 3 else 'th'} frame"
