"""``run``'s flags for where annotated video goes besides the recording, and how long files are kept:
``--publish``, ``--publish-transport``, ``--retain``, ``--retain-size``."""

from __future__ import annotations

import argparse
from typing import Any


def add_output_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--publish",
        metavar="URL",
        help="push each source's annotated video to a media server: rtsp://server:8554/{source}, rtmp://, "
        "srt:// ({source} is the source's name); reconnects on its own",
    )
    group.add_argument(
        "--publish-transport", choices=("tcp", "udp"), help="RTSP publishing over (default tcp)"
    )
    group.add_argument(
        "--retain", metavar="AGE", help="delete recordings, clips and snapshots older than AGE (7d)"
    )
    group.add_argument(
        "--retain-size",
        metavar="SIZE",
        help="keep recordings, clips and snapshots under SIZE, oldest out first (50GB)",
    )


def output_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``output`` section's values from these flags (None: not given)."""
    return {
        "publish": args.publish,
        "publish_transport": args.publish_transport,
        "retain": args.retain,
        "retain_size": args.retain_size,
    }
