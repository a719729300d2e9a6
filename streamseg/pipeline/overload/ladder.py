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
4. **Less decoding** (``latency.shed_decoding``), for when decoding every frame of every camera is
   what the machine cannot afford: the decoder leaves out the non-reference frames (FFmpeg's
   ``skip_frame = NONREF``: B-frames and other frames nothing is predicted from; striding still
   applies), then decodes **keyframes only** (``NONKEY``; every keyframe is used, so no striding on
   top), again lowest priority first. Only streams decoded by PyAV can skip; a webcam is unaffected,
   and a stream whose keyframes are more than 2 s apart keeps its reference frames (it would starve;
   ``capture/skipping.py``). With shedding on, a frame that striding refuses is also never converted
   to BGR, at any rung.

A stride of k with phase p processes the frames whose index is p modulo k; cameras get different
phases (round-robin, in the order they joined), so the load is spread over time instead of all
cameras landing in the same batch. Each rung
carries its cost relative to rung 0 (frames per second times input pixels), which the governor uses
to judge whether there is room to climb back. What the decoder leaves out depends on the stream (a
camera without B-frames has no non-reference frames; keyframes may come every 0.5 or every 2 s), so the
costs of those rungs are guesses (``NONREF_SHARE``, ``KEYFRAME_SHARE``) that the governor replaces with
the frame rates it measured when it has them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

PRIORITY_ORDER = ("low", "normal", "high")  # degraded in this order
SHRINK = 0.8  # each smaller input is at most this fraction of the previous one, per side
NONREF_SHARE = 0.5  # guessed share of frames left without the non-reference ones (IBP cameras: 1/3)
KEYFRAME_SHARE = 1 / 60  # guessed share of keyframes: one each 2 s at 30 fps, the most "NONKEY" allows


@dataclass(frozen=True)
class Rung:
    """One state of the ladder: a stride per priority tier and the network input size."""

    strides: Mapping[str, int]  # tier (low / normal / high) -> every how many frames a camera is processed
    imgsz: int
    cost: float  # inference work relative to rung 0
    label: str  # what the rung means, for logs, the summary and the dashboard
    skips: Mapping[str, str] = field(default_factory=dict)  # tier -> decoder skip_frame; absent: DEFAULT

    @property
    def sheds_decoding(self) -> bool:
        return any(mode != "DEFAULT" for mode in self.skips.values())


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
    shed_decoding: bool = True,
) -> list[Rung]:
    """Rungs for ``cameras`` (tier -> how many live sources have it), rung 0 first."""
    steps: list[tuple[str, int | str]] = [("stride", 2)] if max_stride >= 2 else []
    if resizable:
        steps += [("imgsz", size) for size in smaller_sizes(imgsz, min_imgsz, stride)]
    steps += [("stride", k) for k in range(3, max_stride + 1)]
    if shed_decoding:
        steps += [("skip", "NONREF"), ("skip", "NONKEY")]
    tiers = [t for t in PRIORITY_ORDER if cameras.get(t)] or ["normal"]
    strides = dict.fromkeys(tiers, 1)
    skips = dict.fromkeys(tiers, "DEFAULT")
    size = imgsz
    rungs = [_rung(strides, skips, size, imgsz, cameras)]
    for what, value in steps:
        if what == "imgsz":
            size = int(value)
            rungs.append(_rung(strides, skips, size, imgsz, cameras))
            continue
        for tier in tiers:  # lowest priority first, one tier per rung
            if what == "stride":
                strides[tier] = int(value)
            else:
                skips[tier] = str(value)
                if value == "NONKEY":
                    strides[tier] = 1  # every keyframe is used: striding them too would starve the camera
            rungs.append(_rung(strides, skips, size, imgsz, cameras))
    return rungs


def nearest_tier(priority: str, tiers: Sequence[str]) -> str:
    """The ladder's tier for a camera of ``priority`` (one added while running may bring a tier the
    ladder was not built with: it goes with the nearest one, the lower one on a tie)."""
    if priority in tiers:
        return priority
    rank = PRIORITY_ORDER.index(priority)
    return min(tiers, key=lambda t: (abs(PRIORITY_ORDER.index(t) - rank), PRIORITY_ORDER.index(t)))


def _rung(
    strides: Mapping[str, int], skips: Mapping[str, str], imgsz: int, base: int, cameras: Mapping[str, int]
) -> Rung:
    n = sum(cameras.get(t, 0) for t in strides) or 1
    share = {"NONREF": NONREF_SHARE, "NONKEY": KEYFRAME_SHARE}
    rates = {t: share.get(skips[t], 1.0) / k for t, k in strides.items()}
    rate = sum(cameras.get(t, 0) * r for t, r in rates.items()) / n if any(cameras.values()) else 1.0
    return Rung(dict(strides), imgsz, rate * (imgsz / base) ** 2, _label(strides, skips, imgsz), dict(skips))


def _label(strides: Mapping[str, int], skips: Mapping[str, str], imgsz: int) -> str:
    what = {tier: _frames(k, skips[tier]) for tier, k in strides.items()}
    if len(set(what.values())) <= 1:
        frames = next(iter(what.values()))
    else:
        frames = ", ".join(f"{tier}: {text}" for tier, text in what.items())
    return f"{frames}, input {imgsz}"


def _frames(k: int, skip: str) -> str:
    if skip == "NONKEY":
        return "keyframes only"
    if skip == "NONREF":
        return f"{_every(k)} (non-reference frames not decoded)"
    return _every(k)


def _every(k: int) -> str:
    return "every frame" if k == 1 else f"every {k}{'nd' if k == 2 else 'rd' if k == 3 else 'th'} frame"
