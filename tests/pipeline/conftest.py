"""Shared by the pipeline tests that run both paths."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streamseg.inference.runtimes import InferenceBackend, create_backend
from tests.conftest import FIXTURE_PT, require_asset


@pytest.fixture(scope="module")
def backends() -> Iterator[tuple[InferenceBackend, InferenceBackend]]:
    """The trained fixture network twice: NumPy pre/postprocessing, and the device path."""
    weights = require_asset(FIXTURE_PT)
    host = create_backend("torch", weights, "cpu", device_ops=False)
    device = create_backend("torch", weights, "cpu", device_ops=True)
    yield host, device
    host.close()
    device.close()
