"""``run``'s privacy flags: ``--privacy``, ``--privacy-style``, ``--privacy-grow`` and
``--privacy-max-gap``. They override the config file's top-level ``privacy:`` section; areas of a
camera's picture are per source and live in the config file (see configs/privacy.yaml)."""

from __future__ import annotations

import argparse
import math
from typing import Any

from streamseg.config import STYLES
from streamseg.config.numbers import shown
from streamseg.config.privacy import MAX_GAP_S, MAX_GROW, MIN_GAP_S
from streamseg.errors import ConfigError


def add_privacy_arguments(run: argparse.ArgumentParser) -> None:
    group = run.add_argument_group(
        "privacy",
        "Hide people (or any class of the model) by their masks in every picture that leaves the run:\n"
        "recordings, clips, snapshots, published streams, the dashboard's previews and live video.\n"
        "Areas of a camera's picture (a neighbour's window) are hidden whatever is in them: set them per\n"
        "source in the config file (privacy: areas:, see configs/privacy.yaml). The results file\n"
        "(--save-results) still holds every mask and box, as data: keep it as private as the video.",
    )
    group.add_argument(
        "--privacy",
        metavar="CLASSES",
        help="comma-separated classes hidden by their masks, e.g. person or person,car (overrides the "
        "config file's privacy.objects; a source's own privacy.objects overrides this)",
    )
    group.add_argument(
        "--privacy-style",
        choices=STYLES,
        help="how hidden pixels look: pixelated (default, the cheapest), blurred (~1.3x the cost) or "
        "filled with one colour",
    )
    group.add_argument(
        "--privacy-grow",
        type=int,
        metavar="PX",
        help=f"dilate each mask by PX pixels so edges and hair stay covered, 0..{MAX_GROW} (default: 4)",
    )
    group.add_argument(
        "--privacy-max-gap",
        type=float,
        metavar="SECONDS",
        help="hide whole frames when no inference result is this recent, in seconds of the stream: a "
        "strided or late frame never shows someone an old mask no longer covers (default: 1.0)",
    )


def privacy_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The top-level ``privacy`` section's values from these flags (None: not given), each checked here
    so a mistake names the flag."""
    grow, gap = args.privacy_grow, args.privacy_max_gap
    if grow is not None and not 0 <= grow <= MAX_GROW:
        raise ConfigError(f"--privacy-grow must be 0..{MAX_GROW} pixels, got {grow}")
    if gap is not None and not (math.isfinite(gap) and MIN_GAP_S <= gap <= MAX_GAP_S):
        raise ConfigError(f"--privacy-max-gap must be {MIN_GAP_S:g}..{MAX_GAP_S:g} seconds, got {gap:g}")
    return {
        "objects": _classes(args.privacy),
        "style": args.privacy_style,
        "grow": grow,
        "max_gap": gap,
    }


def _classes(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise ConfigError(
            f"--privacy {shown(text)} has an empty class name: give classes separated by commas, "
            "e.g. person,car"
        )
    return tuple(dict.fromkeys(names))
