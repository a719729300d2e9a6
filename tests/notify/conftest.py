"""Fixtures for the sink tests: a real Mosquitto broker per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import Broker, find_binary


@pytest.fixture
def mosquitto() -> str:
    path = find_binary("mosquitto")
    if path is None:  # system tools are part of the test setup (CI installs it): a failure, not a skip
        pytest.fail("the mosquitto broker is not installed (apt-get install mosquitto)")
    return path


@pytest.fixture
def broker(mosquitto: str, tmp_path: Path) -> Iterator[Broker]:
    """An anonymous broker on a free loopback port, running."""
    b = Broker(mosquitto, tmp_path)
    b.start()
    yield b
    b.stop()
