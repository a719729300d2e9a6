"""The degradation ladder: what live sources give up, rung by rung, when inference cannot keep up.

Rung 0 is full quality. Going down, each rung changes one thing:

0. **Lower detect rates**, only where live sources have one (``detect_fps``): the detect rate of a tier's
   sources is halved, lowest priority first, then halved again, tier by tier. The frames this leaves out
   are still recorded and shown (``pipeline/selection.py``), so it comes before anything that drops frames.
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
the frame rates it measured when it has them. Each camera counts the same at rung 0, with or without a
detect rate; one at a factor f of its detect rate costs f, or what striding leaves of its frames if that
is less (as if its detect rate were its frame rate: the most striding can take from it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

PRIORITY_ORDER = ("low", "normal", "high")  # degraded in this order
SHRINK = 0.8  # each smaller input is at most this fraction of the previous one, per side
NONREF_SHARE = 0.5  # guessed share of frames left without the non-reference ones (IBP cameras: 1/3)
KEYFRAME_SHARE = 1 / 60  # guessed share of keyframes: one each 2 s at 30 fps, the most "NONKEY" allows
DETECT_FACTORS = (0.5, 0.25)  # detect rates are halved, then halved again, before any striding


@dataclass(frozen=True)
class Rung:
    """One state of the ladder: a stride per priority tier, the network input size, and what the tiers'
    detect rates are multiplied by (``detect``: tiers with detect-rate sources; absent: 1.0)."""

    strides: Mapping[str, int]  # tier (low / normal / high) -> every how many frames a camera is processed
    imgsz: int
    cost: float  # inference work relative to rung 0
    label: str  # what the rung means, for logs, the summary and the dashboard
    skips: Mapping[str, str] = field(default_factory=dict)  # tier -> decoder skip_frame; absent: DEFAULT
    detect: Mapping[str, float] = field(default_factory=dict)  # tier -> factor on detect rates; absent: 1

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
    detecting: Mapping[str, int] | None = None,
) -> list[Rung]:
    """Rungs for ``cameras`` (tier -> how many live sources have it), rung 0 first; ``detecting``: tier ->
    how many of them have a detect rate (none: no detect-rate rungs)."""
    tiers = [t for t in PRIORITY_ORDER if cameras.get(t)] or ["normal"]
    detecting = {t: n for t, n in (detecting or {}).items() if n > 0 and t in tiers}
    steps: list[tuple[str, float | str]] = [("detect", f) for f in DETECT_FACTORS] if detecting else []
    steps += [("stride", 2)] if max_stride >= 2 else []
    if resizable:
        steps += [("imgsz", size) for size in smaller_sizes(imgsz, min_imgsz, stride)]
    steps += [("stride", k) for k in range(3, max_stride + 1)]
    if shed_decoding:
        steps += [("skip", "NONREF"), ("skip", "NONKEY")]
    load = _Load(cameras, detecting, imgsz)
    strides = dict.fromkeys(tiers, 1)
    skips = dict.fromkeys(tiers, "DEFAULT")
    detect = {t: 1.0 for t in tiers if t in detecting}
    size = imgsz
    rungs = [load.rung(strides, skips, detect, size)]
    for what, value in steps:
        if what == "imgsz":
            size = int(value)
            rungs.append(load.rung(strides, skips, detect, size))
            continue
        for tier in tiers:  # lowest priority first, one tier per rung
            if what == "detect":
                if tier not in detect:
                    continue  # no source of this tier has a detect rate: the rung would change nothing
                detect[tier] = float(value)
            elif what == "stride":
                strides[tier] = int(value)
            else:
                skips[tier] = str(value)
                if value == "NONKEY":
                    strides[tier] = 1  # every keyframe is used: striding them too would starve the camera
            rungs.append(load.rung(strides, skips, detect, size))
    return rungs


def nearest_tier(priority: str, tiers: Sequence[str]) -> str:
    """The ladder's tier for a camera of ``priority`` (one added while running may bring a tier the
    ladder was not built with: it goes with the nearest one, the lower one on a tie)."""
    if priority in tiers:
        return priority
    rank = PRIORITY_ORDER.index(priority)
    return min(tiers, key=lambda t: (abs(PRIORITY_ORDER.index(t) - rank), PRIORITY_ORDER.index(t)))


@dataclass(frozen=True)
class _Load:
    """How a rung's cost is estimated: what each camera still sends to the network, relative to rung 0."""

    cameras: Mapping[str, int]
    detecting: Mapping[str, int]
    base: int  # rung 0's input size

    def rung(
        self, strides: Mapping[str, int], skips: Mapping[str, str], detect: Mapping[str, float], imgsz: int
    ) -> Rung:
        cameras, share = self.cameras, {"NONREF": NONREF_SHARE, "NONKEY": KEYFRAME_SHARE}
        n = sum(cameras.get(t, 0) for t in strides) or 1
        frames = {t: share.get(skips[t], 1.0) / k for t, k in strides.items()}  # of a camera's frames
        work = 0.0
        for t, r in frames.items():
            lowered = min(self.detecting.get(t, 0), cameras.get(t, 0))
            work += (cameras.get(t, 0) - lowered) * r + lowered * min(detect.get(t, 1.0), r)
        rate = work / n if any(cameras.values()) else 1.0
        label = _label(strides, skips, detect, imgsz)
        return Rung(dict(strides), imgsz, rate * (imgsz / self.base) ** 2, label, dict(skips), dict(detect))


def _label(
    strides: Mapping[str, int], skips: Mapping[str, str], detect: Mapping[str, float], imgsz: int
) -> str:
    what = {tier: _frames(k, skips[tier]) for tier, k in strides.items()}
    if len(set(what.values())) <= 1:
        frames = next(iter(what.values()))
    else:
        frames = ", ".join(f"{tier}: {text}" for tier, text in what.items())
    lowered = _detect_text(detect, list(strides))
    return f"{lowered}; {frames}, input {imgsz}" if lowered else f"{frames}, input {imgsz}"


def _detect_text(detect: Mapping[str, float], tiers: Sequence[str]) -> str:
    """What the rung does to detect rates ("detect rate x0.25 for low, x0.5 for normal and high"); empty
    while every one is as set."""
    groups: dict[float, list[str]] = {}
    for tier, factor in detect.items():
        if factor < 1.0:
            groups.setdefault(factor, []).append(tier)
    if len(groups) == 1 and len(next(iter(groups.values()))) == len(tiers):
        return f"detect rate x{next(iter(groups)):g}"  # every tier alike
    parts = [f"x{factor:g} for {_and(names)}" for factor, names in groups.items()]
    return f"detect rate {', '.join(parts)}" if parts else ""


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _frames(k: int, skip: str) -> str:
    if skip == "NONKEY":
        return "keyframes only"
    if skip == "NONREF":
        return f"{_every(k)} (non-reference frames not decoded)"
    return _every(k)


def _every(k: int) -> str:
    return "every frame" if k == 1 else f"every {k}{'nd' if k == 2 else 'rd' if k == 3 else 'th'} frame"
