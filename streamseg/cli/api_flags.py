"""``run``'s flags for what ``POST /api/sources`` may start: ``--api-file-root``, ``--api-source-host``
and ``--api-source-scheme`` (the ``api`` section)."""

from __future__ import annotations

import argparse
from typing import Any


def add_api_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--api-file-root",
        action="append",
        metavar="DIR",
        help="POST /api/sources may start video files under DIR (repeat for more); without one, only "
        "cameras and streams can be added while running",
    )
    group.add_argument(
        "--api-source-host",
        action="append",
        metavar="HOST",
        help="POST /api/sources may start streams only from HOST: a name, *.domain, an address, a network "
        "(10.0.0.0/8) or * (repeat for more). Default: any, but with the dashboard off loopback never this "
        "machine's own addresses; name one (127.0.0.1) to add a camera there",
    )
    group.add_argument(
        "--api-source-scheme",
        action="append",
        metavar="SCHEME",
        help="POST /api/sources may start streams only over SCHEME (rtsp, rtsps, srt ...; repeat for more)",
    )


def api_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``api`` section's values from these flags (None: not given)."""
    return {
        "file_roots": _tuple(args.api_file_root),
        "source_hosts": _tuple(args.api_source_host),
        "source_schemes": _tuple(args.api_source_scheme),
    }


def _tuple(values: list[str] | None) -> tuple[str, ...] | None:
    return tuple(values) if values else None
