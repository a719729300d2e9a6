"""``run``'s ``--api-*`` flags fill the ``api`` section (what ``POST /api/sources`` may start)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamseg.cli.main import build_parser, config_from_args
from streamseg.config import ApiConfig
from streamseg.errors import ConfigError


def api_of(*flags: str) -> ApiConfig:
    return config_from_args(build_parser().parse_args(["run", "a.mp4", *flags])).api


def test_the_api_flags(tmp_path: Path) -> None:
    assert api_of() == ApiConfig()
    api = api_of(
        "--api-file-root", str(tmp_path),
        "--api-source-host", "10.0.0.0/8",
        "--api-source-host", "127.0.0.1",
        "--api-source-scheme", "rtsps",
    )  # fmt: skip
    assert api == ApiConfig((str(tmp_path),), ("10.0.0.0/8", "127.0.0.1"), ("rtsps",))


def test_an_entry_that_means_nothing_is_refused_at_start() -> None:
    args = build_parser().parse_args(["run", "a.mp4", "--api-source-host", "http://cam"])
    with pytest.raises(ConfigError, match=r"api\.source_hosts: 'http://cam' is not a host name"):
        config_from_args(args).validated()
