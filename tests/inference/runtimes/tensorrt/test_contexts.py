"""One TensorRT execution context per batch size, each shaped once and all on one scratch buffer: a CUDA
graph captured around an enqueue replays the context state it was captured with (issue 25, defect 9).

TensorRT cannot be installed here, so the engine is a stand-in at that boundary: it records what the
backend asks of its contexts. (The real plan on a GPU: tests/gpu/on_device/test_gpu_graphs.py.)
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch

from streamseg.inference.runtimes.tensorrt.runtime import TensorRTBackend


class FakeContext:
    def __init__(self, engine: FakeEngine, strategy: object) -> None:
        self.engine, self.strategy = engine, strategy
        self.shapes: list[tuple[int, ...]] = []
        self.addresses: dict[str, int] = {}
        self.memory: tuple[int, int] | None = None
        self.runs = 0

    def set_device_memory(self, pointer: int, size: int) -> None:
        self.memory = (pointer, size)

    def set_input_shape(self, name: str, shape: Any) -> bool:
        self.shapes.append(tuple(shape))
        return True

    def set_tensor_address(self, name: str, pointer: int) -> bool:
        self.addresses[name] = pointer
        return True

    def get_tensor_shape(self, name: str) -> list[int]:
        batch = self.shapes[-1][0]
        return [batch, 116, 5040] if name == "output0" else [batch, 32, 96, 160]

    def execute_async_v3(self, stream: int) -> bool:
        self.runs += 1
        return True


class FakeEngine:
    num_io_tensors = 3
    device_memory_size_v2 = 4096

    def __init__(self) -> None:
        self.contexts: list[FakeContext] = []

    def get_tensor_name(self, i: int) -> str:
        return ("images", "output0", "output1")[i]

    def get_tensor_mode(self, name: str) -> str:
        return "input" if name == "images" else "output"

    def get_tensor_profile_shape(self, name: str, profile: int) -> list[list[int]]:
        return [[1, 3, 384, 640], [8, 3, 384, 640], [16, 3, 384, 640]]

    def get_tensor_dtype(self, name: str) -> str:
        return "half"

    def create_execution_context(self, strategy: object) -> FakeContext:
        context = FakeContext(self, strategy)
        self.contexts.append(context)
        return context


FAKE_TRT = SimpleNamespace(
    DataType=SimpleNamespace(FLOAT="float", HALF="half", INT32="int32", INT8="int8"),
    TensorIOMode=SimpleNamespace(INPUT="input"),
    ExecutionContextAllocationStrategy=SimpleNamespace(USER_MANAGED="user managed"),
)


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> TensorRTBackend:
    """The backend's own binding code over the stand-in engine, with CPU tensors for its buffers."""
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: SimpleNamespace(cuda_stream=7))
    trt = TensorRTBackend.__new__(TensorRTBackend)
    trt._torch = torch
    trt._device = torch.device("cpu")
    trt._engine = FakeEngine()  # type: ignore[assignment]
    trt._trt = FAKE_TRT
    trt._scratch = torch.empty(FakeEngine.device_memory_size_v2, dtype=torch.uint8)
    trt._contexts = {}
    trt._bind(FAKE_TRT)
    trt._batch_min, trt._batch_max, trt._hw = 1, 16, (384, 640)
    return trt


def test_each_batch_size_has_its_own_context_shaped_once(backend: TensorRTBackend) -> None:
    engine: FakeEngine = backend._engine  # type: ignore[assignment]
    for n in (1, 4, 1, 16, 4, 3, 1):
        head, protos = backend.run_input(n, (384, 640))
        assert head.shape[0] == n and protos.shape[0] == n
    contexts = {n: c for n, c in backend._contexts.items()}  # type: ignore[misc]
    assert set(contexts) == {1, 3, 4, 16}
    for n, context in contexts.items():
        assert context.shapes == [(n, 3, 384, 640)]  # shaped once, never reshaped before an enqueue
    assert [c.runs for c in (contexts[1], contexts[3], contexts[4], contexts[16])] == [3, 1, 2, 1]
    scratch = (backend._scratch.data_ptr(), backend._scratch.numel())
    assert all(c.memory == scratch and c.strategy == "user managed" for c in engine.contexts)
    bound = {c.addresses["images"] for c in engine.contexts}
    assert bound == {backend._input.data_ptr()}  # one input buffer, one set of outputs, for all
    assert {c.addresses["output0"] for c in engine.contexts} == {backend._outputs["output0"].data_ptr()}
