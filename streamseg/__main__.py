"""``python -m streamseg`` is the ``streamseg`` command."""

from __future__ import annotations

from streamseg.cli import entry

entry()
