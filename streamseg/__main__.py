"""``python -m streamseg`` is the ``streamseg`` command."""

from __future__ import annotations

import sys

from streamseg.cli import main

sys.exit(main())
