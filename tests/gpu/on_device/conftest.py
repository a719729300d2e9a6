"""GPU tests: opt in with ``STREAMSEG_GPU_TESTS=1``; once opted in, a missing GPU is a failure, not a skip.

Without the variable every test here is skipped with that reason (CPU CI). Run them on a GPU box:

    STREAMSEG_GPU_TESTS=1 python -m pytest -q tests/gpu -m gpu
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

OPTED_IN = os.environ.get("STREAMSEG_GPU_TESTS") == "1"
HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="GPU test: opt in with STREAMSEG_GPU_TESTS=1 on a machine with a GPU")
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.gpu)
            if not OPTED_IN:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def cuda_device() -> str:
    """The GPU under test; fails loudly (never skips) when opted in without a usable GPU."""
    from streamseg.inference.runtimes.probe import cuda_check

    check = cuda_check(0)
    if not check.ok:
        pytest.fail(f"STREAMSEG_GPU_TESTS=1 but no usable GPU: {check.detail}")
    return "cuda:0"


@pytest.fixture(scope="session")
def tensorrt_ready(cuda_device: str) -> str:
    from streamseg.inference.runtimes.tensorrt.library import tensorrt_version

    version, why = tensorrt_version()
    if version is None:
        pytest.fail(f"STREAMSEG_GPU_TESTS=1 but TensorRT is unusable: {why}")
    return version
