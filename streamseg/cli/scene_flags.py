"""``run``'s flags for tracks and events: ``--track``, ``--track-match``, ``--track-lost``, ``--events``,
``--mqtt``, ``--webhook``, ``--snapshots``. Zones and lines are per camera and live in the config file
(``sources: [{uri: ..., zones: [...], lines: [...]}]``)."""

from __future__ import annotations

import argparse
from typing import Any

from streamseg.config import TRACKERS


def add_scene_arguments(run: argparse.ArgumentParser) -> None:
    group = run.add_argument_group(
        "tracks, zones and events",
        "Zones and lines are set per source in the config file (see configs/cctv.yaml); a source with "
        "either, or any event output, is tracked with bytetrack unless --track says otherwise.",
    )
    group.add_argument(
        "--track",
        nargs="?",
        const="bytetrack",
        choices=TRACKERS,
        help="give every object a track id, kept while it is followed (default tracker: bytetrack)",
    )
    group.add_argument(
        "--track-match",
        choices=("box", "mask"),
        help="associate detections with tracks by box IoU (default) or mask IoU (crowds)",
    )
    group.add_argument(
        "--track-lost",
        type=float,
        metavar="SECONDS",
        help="end a track unseen this long, in seconds of video (default: 1.0)",
    )
    group.add_argument("--events", metavar="FILE.jsonl", help="append every event as a JSON line")
    group.add_argument(
        "--mqtt",
        metavar="URL",
        help="publish events to an MQTT broker: mqtt://[user:pass@]host[:1883][/prefix], topics "
        "PREFIX/SOURCE/TYPE, live zone counts retained on PREFIX/SOURCE/zones/ZONE",
    )
    group.add_argument(
        "--webhook",
        action="append",
        metavar="URL",
        help="POST every event as JSON to URL, retried with backoff (repeat for more)",
    )
    group.add_argument(
        "--snapshots",
        metavar="DIR",
        help="per event, a JPEG of the annotated frame and the object's best crop (named in the event)",
    )
    group.add_argument(
        "--clips",
        metavar="DIR",
        help="an H.264 MP4 per event, from --pre-roll before it to --post-roll after it (one encode)",
    )
    group.add_argument(
        "--pre-roll", metavar="DURATION", help="clip time before an event (default 5s, at most 60s)"
    )
    group.add_argument("--post-roll", metavar="DURATION", help="clip time after the last event (default 5s)")
    group.add_argument(
        "--clip-classes",
        metavar="NAMES",
        help="comma-separated classes whose events make clips (untracked sources: whose presence does)",
    )
    group.add_argument(
        "--snapshots-max",
        type=int,
        metavar="N",
        help="keep at most N snapshot files, the oldest deleted first (default 1000)",
    )


def scene_overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The ``track`` and ``events`` sections' values from the flags (None: not given)."""
    return {
        "track": {"tracker": args.track, "match": args.track_match, "lost_s": args.track_lost},
        "events": {
            "file": args.events,
            "mqtt": args.mqtt,
            "webhooks": tuple(args.webhook) if args.webhook else None,
            "snapshots": args.snapshots,
            "snapshots_max": args.snapshots_max,
        },
    }


def clip_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``output`` section's clip values from the flags (None: not given)."""
    classes = (
        tuple(c.strip() for c in args.clip_classes.split(",") if c.strip()) if args.clip_classes else None
    )
    return {
        "clips": args.clips,
        "pre_roll": args.pre_roll,
        "post_roll": args.post_roll,
        "clip_classes": classes,
    }
