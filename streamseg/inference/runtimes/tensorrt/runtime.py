"""The TensorRT runtime: a plan (found, or built on first use) bound to CUDA tensors.

Why TensorRT: fused FP16/INT8 kernels tuned for the exact GPU. Plans are built from the ONNX export
with one optimization profile over the batch range at a fixed input size, and carry a JSON sidecar
(``tensorrt.plan``) so a plan from another GPU or TensorRT version is refused with one line instead of
failing obscurely. I/O are PyTorch CUDA tensors allocated once at the profile's largest batch and
bound by address, on the same CUDA stream the shared pre/postprocessing (``yolo.device.runner``) uses.

One execution context per batch size, each shaped once: a CUDA graph captured around an enqueue is
valid only for the context state it was captured with, so a context shared by the graphs of every
bucket (reshaped before each enqueue) would replay with another bucket's state. The contexts run one
at a time on one stream, so they share one scratch buffer (``USER_MANAGED`` device memory).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamseg.config.devices import parse_device
from streamseg.errors import BackendUnavailableError, ModelError
from streamseg.inference.runtimes.base import InferenceBackend, ModelInfo, as_float32
from streamseg.inference.runtimes.tensorrt.build import build_engine, default_spec, dims_list
from streamseg.inference.runtimes.tensorrt.library import checked_sidecar, import_tensorrt, trt_logger
from streamseg.inference.runtimes.tensorrt.plan import (
    EngineMismatchError,
    Sidecar,
    find_plan,
    plan_name,
)
from streamseg.types import FloatArray

if TYPE_CHECKING:
    import tensorrt as trt

logger = logging.getLogger(__name__)


class TensorRTBackend(InferenceBackend):
    name = "tensorrt"

    def __init__(
        self,
        model_path: Path,
        device: str = "cuda:0",
        engines_dir: Path = Path("engines"),
        imgsz: int = 640,
        max_batch: int = 16,
        rebuild: bool = False,
    ) -> None:
        """``model_path``: a ``.plan`` (with its sidecar), or an ``.onnx`` whose plan is found or built."""
        kind, index = parse_device(device)
        if kind != "cuda":
            raise BackendUnavailableError("the TensorRT backend runs on a GPU only: use --device cuda:N")
        trt_mod = import_tensorrt()
        import torch  # noqa: PLC0415

        from streamseg.inference.model_files import sha256_of  # noqa: PLC0415

        self._torch = torch
        self._device = torch.device("cuda", index)
        torch.cuda.set_device(index)
        if model_path.suffix.lower() == ".onnx":
            onnx_sha = sha256_of(model_path)
            plan, sidecar = self._plan_for(
                model_path, onnx_sha, engines_dir, imgsz, max_batch, index, rebuild, trt_mod
            )
        else:
            plan, sidecar = model_path, checked_sidecar(model_path, index, trt_mod)
        self.sidecar = sidecar
        runtime: trt.Runtime = trt_mod.Runtime(trt_logger(trt_mod))
        engine = runtime.deserialize_cuda_engine(plan.read_bytes())
        if engine is None:
            raise EngineMismatchError(
                f"TensorRT could not load {plan}; rebuild with streamseg build-engine --force"
            )
        self._runtime, self._engine = runtime, engine
        self._trt = trt_mod
        self._scratch = torch.empty(int(engine.device_memory_size_v2), dtype=torch.uint8, device=self._device)
        self._contexts: dict[int, trt.IExecutionContext] = {}
        self._stream = torch.cuda.Stream(self._device)  # type: ignore[no-untyped-call]
        self._bind(trt_mod)
        profile = sidecar.profile
        self._batch_min, self._batch_max = int(profile["min"][0]), int(profile["max"][0])
        hw = (int(profile["max"][2]), int(profile["max"][3]))
        self._hw = hw
        self._info = ModelInfo(
            names=tuple(sidecar.names),
            stride=sidecar.stride,
            num_masks=sidecar.num_masks,
            max_batch=self._batch_max,
            fixed_input_hw=hw,
        )
        version, gpu = trt_mod.__version__, sidecar.gpu_name
        logger.info("TensorRT %s plan %s on %s (%s)", version, plan.name, gpu, sidecar.precision)

    @staticmethod
    def _plan_for(
        onnx: Path,
        onnx_sha: str,
        engines_dir: Path,
        imgsz: int,
        max_batch: int,
        index: int,
        rebuild: bool,
        trt_mod: Any,
    ) -> tuple[Path, Sidecar]:
        """A cached plan for ``onnx`` that suits this GPU and TensorRT, or a new one built now."""
        stem = onnx.stem
        for plan in [] if rebuild else find_plan(engines_dir, stem, onnx_sha):
            try:
                return plan, checked_sidecar(plan, index, trt_mod, onnx_sha)
            except EngineMismatchError as exc:
                logger.info("skipping %s", exc)
        spec = default_spec(imgsz, max_batch)
        plan = engines_dir / plan_name(stem, onnx_sha, spec)
        return plan, build_engine(onnx, plan, spec, index)

    def _bind(self, trt_mod: Any) -> None:
        """Allocate I/O once at the profile's largest batch and remember names, dtypes and roles."""
        torch = self._torch
        engine = self._engine
        dtypes = {
            trt_mod.DataType.FLOAT: torch.float32,
            trt_mod.DataType.HALF: torch.float16,
            trt_mod.DataType.INT32: torch.int32,
            trt_mod.DataType.INT8: torch.int8,
        }
        self._input_name = ""
        outputs: list[str] = []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            if engine.get_tensor_mode(name) == trt_mod.TensorIOMode.INPUT:
                self._input_name = name
            else:
                outputs.append(name)
        profile_max = dims_list(engine.get_tensor_profile_shape(self._input_name, 0)[2])
        self._input_dtype = dtypes[engine.get_tensor_dtype(self._input_name)]
        self._input = torch.empty(profile_max, dtype=self._input_dtype, device=self._device)
        self._outputs: dict[str, Any] = {}
        largest = self._new_context(profile_max)
        for name in outputs:
            shape = dims_list(largest.get_tensor_shape(name))
            self._outputs[name] = torch.empty(
                shape, dtype=dtypes[engine.get_tensor_dtype(name)], device=self._device
            )
        if len(self._outputs) != 2:
            raise ModelError(f"TensorRT plan has {len(self._outputs)} outputs, expected 2: not a -seg model")
        by_rank = sorted(self._outputs, key=lambda n: self._outputs[n].dim())
        self._head_name, self._protos_name = by_rank[0], by_rank[1]
        self._bind_addresses(largest)
        self._contexts[profile_max[0]] = largest

    def _new_context(self, shape: list[int]) -> trt.IExecutionContext:
        """A context on the shared scratch memory, shaped for ``shape`` once and for all."""
        strategy = self._trt.ExecutionContextAllocationStrategy.USER_MANAGED
        context: trt.IExecutionContext = self._engine.create_execution_context(strategy)
        context.set_device_memory(int(self._scratch.data_ptr()), int(self._scratch.numel()))
        context.set_input_shape(self._input_name, shape)
        return context

    def _bind_addresses(self, context: trt.IExecutionContext) -> None:
        """Every context reads the one input and writes the same outputs (sliced per batch)."""
        context.set_tensor_address(self._input_name, int(self._input.data_ptr()))
        for name, tensor in self._outputs.items():
            context.set_tensor_address(name, int(tensor.data_ptr()))

    def context_for(self, batch: int) -> trt.IExecutionContext:
        """The context of a batch of ``batch`` (made and shaped on first use, never reshaped)."""
        context = self._contexts.get(batch)
        if context is None:
            context = self._new_context([batch, 3, *self._hw])
            self._bind_addresses(context)
            self._contexts[batch] = context
        return context

    # ------------------------------------------------------------------ InferenceBackend
    @property
    def info(self) -> ModelInfo:
        return self._info

    def infer(self, batch: FloatArray) -> tuple[FloatArray, FloatArray]:
        torch = self._torch
        n, _, h, w = batch.shape
        with torch.cuda.stream(self._stream):
            self.input_buffer(n, (h, w)).copy_(torch.from_numpy(batch), non_blocking=False)
            head, protos = self.run_input(n, (h, w))
            result = head.float().cpu().numpy(), protos.float().cpu().numpy()
        return as_float32(result[0]), as_float32(result[1])

    def device_path(self) -> TensorRTBackend:
        return self

    def close(self) -> None:
        self._contexts.clear()
        self._outputs = {}

    # ------------------------------------------------------------------ DeviceBackend
    @property
    def device(self) -> Any:
        return self._device

    @property
    def stream(self) -> Any:
        return self._stream

    @property
    def dtype(self) -> Any:
        return self._input_dtype

    @property
    def graphs(self) -> bool:
        """enqueueV3 on fixed bindings can be captured (after the warm-up run the capture does)."""
        return True

    @property
    def max_batch(self) -> int | None:
        return int(self._batch_max)

    def network(self, batch: Any) -> tuple[Any, Any]:
        """Copy ``batch`` into the bound input and enqueue the plan on our stream."""
        n, input_hw = int(batch.shape[0]), (int(batch.shape[2]), int(batch.shape[3]))
        self.input_buffer(n, input_hw).copy_(batch)
        return self.run_input(n, input_hw)

    def input_buffer(self, batch: int, input_hw: tuple[int, int]) -> Any:
        if input_hw != self._hw:
            raise ModelError(f"input {input_hw} differs from the plan's {self._hw}: rebuild with --imgsz")
        if batch > self._batch_max:
            raise ModelError(
                f"batch {batch} is outside the plan's profile {self._batch_min}-{self._batch_max}: "
                "rebuild with streamseg build-engine --batch MIN-MAX"
            )
        return self._input[:batch]

    def run_input(self, batch: int, input_hw: tuple[int, int]) -> tuple[Any, Any]:
        """Below the profile minimum the spare slots of the static input run along and are dropped."""
        run = max(batch, self._batch_min)
        stream = self._torch.cuda.current_stream(self._device)  # ours, or a graph capture's
        if not self.context_for(run).execute_async_v3(stream.cuda_stream):
            raise ModelError("TensorRT execution failed (see the log above)")
        return self._outputs[self._head_name][:batch], self._outputs[self._protos_name][:batch]
