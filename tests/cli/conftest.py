"""Shared by the flag tests: the run itself replaced by one that keeps the config it is given, so ``main``
goes through flags, config and error reporting as a user's run does, and no model is loaded."""

from __future__ import annotations

import sys
import types

import pytest

from streamseg.config import Config


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[Config]:
    """``streamseg.cli.run`` as ``cmd_run`` imports it, with a ``run_pipeline`` that only keeps the
    config."""
    configs: list[Config] = []

    def run_pipeline(cfg: Config, quiet: bool = False) -> int:
        configs.append(cfg)
        return 0

    stub = types.ModuleType("streamseg.cli.run")
    stub.run_pipeline = run_pipeline  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "streamseg.cli.run", stub)
    return configs
