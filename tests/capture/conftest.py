"""Fixtures for the capture tests."""

from __future__ import annotations

import pytest

from .media import ALL_CLIPS, Decoded, clip, decode_all


@pytest.fixture(scope="session")
def decoded_clips() -> dict[str, Decoded]:
    """Each shared clip decoded once for the whole session (decoding all five takes a few seconds)."""
    return {name: decode_all(clip(name)) for name in ALL_CLIPS}
