"""``run``'s detect-rate and motion flags: ``--detect-fps``, ``--motion``, ``--motion-threshold`` and
``--motion-min-area``. They override the config file's top-level ``detect:`` section; a source's own
``detect_fps:`` and ``motion:`` (with its ignore areas) live in the config file (see configs/nvr.yaml)."""

from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any

from streamseg.config.detect import MAX_DETECT_FPS, THRESHOLDS, DetectConfig
from streamseg.errors import ConfigError


def add_detect_arguments(run: argparse.ArgumentParser) -> None:
    group = run.add_argument_group(
        "detect rate and motion",
        "Every frame is still decoded, recorded and shown; these decide which frames the network sees.\n"
        "The others carry the latest result (masks, boxes, tracks), so a camera that rarely changes costs\n"
        "little GPU time. A source's own detect_fps: and motion: (with areas whose motion never counts,\n"
        "a tree, a clock overlay) go in the config file: see configs/nvr.yaml.",
    )
    group.add_argument(
        "--detect-fps",
        type=float,
        metavar="N",
        help=f"the network sees at most N frames per second of stream time per source, 0 < N <= "
        f"{MAX_DETECT_FPS:g} (default: every frame; a source's detect_fps: overrides this)",
    )
    group.add_argument(
        "--motion",
        action="store_true",
        help="motion gating: the network sees a frame only when something in it moves, or a track is "
        "still live; on with the defaults, or with the config file's detect.motion values (a source's own "
        "motion: replaces them)",
    )
    low, high = THRESHOLDS
    group.add_argument(
        "--motion-threshold",
        type=int,
        metavar="N",
        help=f"grey levels a pixel must change by to count as moving, {low}..{high} (default: 25; "
        "raise it for noisy night pictures); implies --motion",
    )
    group.add_argument(
        "--motion-min-area",
        type=float,
        metavar="SHARE",
        help="share of the picture that must move for a frame to count, 0 < SHARE <= 1 (default: 0.002, "
        "about 43x43 px at 720p); implies --motion",
    )


def detect_overrides(args: argparse.Namespace, current: DetectConfig) -> dict[str, Any]:
    """The top-level ``detect`` section's values from these flags (None: not given) over ``current``
    (the config file's), each checked here so a mistake names the flag."""
    fps, threshold, min_area = args.detect_fps, args.motion_threshold, args.motion_min_area
    if fps is not None and not math.isfinite(fps):
        raise ConfigError(f"--detect-fps must be a number of frames per second, got {fps:g}")
    if fps is not None and fps <= 0:
        raise ConfigError(f"--detect-fps must be > 0 (leave it out to infer every frame), got {fps:g}")
    if fps is not None and fps > MAX_DETECT_FPS:
        raise ConfigError(f"--detect-fps must be at most {MAX_DETECT_FPS:g} frames per second, got {fps:g}")
    low, high = THRESHOLDS
    if threshold is not None and not low <= threshold <= high:
        raise ConfigError(f"--motion-threshold must be {low}..{high} grey levels, got {threshold}")
    if min_area is not None and not (math.isfinite(min_area) and 0 < min_area <= 1):
        raise ConfigError(f"--motion-min-area must be a share of the picture in (0, 1], got {min_area:g}")
    motion = None
    if args.motion or threshold is not None or min_area is not None:
        given = {"threshold": threshold, "min_area": min_area}
        changes = {"enabled": True, **{k: v for k, v in given.items() if v is not None}}
        motion = dataclasses.replace(current.motion, **changes)
    return {"fps": fps, "motion": motion}
