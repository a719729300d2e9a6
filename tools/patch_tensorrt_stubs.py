"""Make tensorrt-stubs 10.13.0.35.1 parseable by mypy (run by .ci/run after installing them).

Why: the stubs are generated from the pybind11 signatures and contain four parameters named ``in``
(a keyword) and one non-default parameter after defaults, which are syntax errors that stop mypy
before it checks anything. We rename ``in`` to ``in_`` and give ``channel_axis`` a default; nothing
else changes, so ``streamseg/inference/runtimes/tensorrt/runtime.py`` is still checked against NVIDIA's API as
the stubs describe it. Idempotent; a no-op once upstream fixes the stubs.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path


def main() -> int:
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    spec = importlib.util.find_spec("tensorrt_bindings")
    if spec is None or not spec.submodule_search_locations:
        print("tensorrt-stubs are not installed: pip install --no-deps tensorrt-stubs", file=sys.stderr)
        return 1
    stub = Path(next(iter(spec.submodule_search_locations))) / "tensorrt.pyi"
    text = stub.read_text(encoding="utf-8")
    fixed = re.sub(r"([(,] ?)in: ", r"\1in_: ", text)
    fixed = fixed.replace(
        "power: Weights = None, channel_axis: int)", "power: Weights = None, channel_axis: int = ...)"
    )
    if fixed != text:
        stub.write_text(fixed, encoding="utf-8")
        print(f"patched {stub}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
