"""PyTorch backend: the Ultralytics ``.pt`` itself, fused; FP16, one CUDA stream and CUDA graphs on a GPU.

Why a separate runtime from ONNX Runtime: on a GPU, launch overhead dominates small batches of a
small network. Per input shape we allocate one static input buffer (the largest batch bucket) and
capture one CUDA graph per bucket (1, 2, 4, 8, 16 by default) on first use; a batch of 3 replays the
4-graph. The graphs live in a ``gpu.graph_cache`` (what they read kept alive, failures turned into
eager runs with one line, ``--cuda-graphs``). On the CPU it runs eager in float32 (that is what CPU
CI checks for parity).
Those graphs serve ``infer`` (NumPy in and out); the device path captures ``network`` inside its own
per-batch graph, with the pre- and postprocessing (``inference.yolo.device``).

The weights are loaded with ``ultralytics.nn.tasks.load_checkpoint``, which does not import
torchvision (a test checks this): ``YOLO(...)``/``AutoBackend`` would pull in more than we need.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from streamseg.config.devices import parse_device
from streamseg.errors import BackendUnavailableError, ModelError
from streamseg.gpu.graph_cache import GraphCache
from streamseg.gpu.graphs import CudaCapturer
from streamseg.inference.runtimes.base import InferenceBackend, ModelInfo, as_float32
from streamseg.types import FloatArray

logger = logging.getLogger(__name__)

DEFAULT_BUCKETS = (1, 2, 4, 8, 16)


class TorchBackend(InferenceBackend):
    name = "torch"

    def __init__(
        self,
        weights: Path,
        device: str = "cpu",
        half: bool | None = None,
        cuda_graphs: bool | str = True,
        buckets: tuple[int, ...] = DEFAULT_BUCKETS,
        threads: int = 0,
        device_ops: bool | None = None,
    ) -> None:
        """``device_ops``: pre/postprocess with torch ops on the device (default: on CUDA only; on the
        CPU the NumPy path is faster, and tests force it on to compare the two). ``cuda_graphs``:
        ``--cuda-graphs`` (auto, on, off; True is auto, False off)."""
        try:
            import torch  # noqa: PLC0415
        except ImportError:
            raise BackendUnavailableError(
                "the torch backend needs PyTorch: pip install torch (the CUDA build for a GPU)"
            ) from None
        kind, index = parse_device(device)
        if kind == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailableError(
                f"--device {device}: PyTorch {torch.__version__} sees no CUDA GPU "
                "(install the CUDA build of torch, or use --device cpu)"
            )
        if threads and kind == "cpu":
            torch.set_num_threads(threads)
        self._torch = torch
        self._device = torch.device(kind, index) if kind == "cuda" else torch.device("cpu")
        self.half = (kind == "cuda") if half is None else half
        mode = cuda_graphs if isinstance(cuda_graphs, str) else ("auto" if cuda_graphs else "off")
        self.cuda_graphs = mode != "off" and kind == "cuda"
        self.graphs_mode = mode
        self.device_ops = (kind == "cuda") if device_ops is None else device_ops
        self.buckets = tuple(sorted(set(buckets)))
        self._model = _load_model(weights, self._device, self.half)
        head = self._model.model[-1]
        self._head = head
        self._dtype = torch.float16 if self.half else torch.float32
        self._stream = torch.cuda.Stream(self._device) if kind == "cuda" else None  # type: ignore[no-untyped-call]
        names = self._model.names
        nc = len(names)
        self._info = ModelInfo(
            names=tuple(str(names[i]) for i in range(nc)) if isinstance(names, dict) else tuple(names),
            stride=int(self._model.stride.max()),
            num_masks=int(head.nm),
            max_batch=None,
            fixed_input_hw=None,
        )
        self._inputs: dict[tuple[int, int], Any] = {}  # one static input per shape: (max bucket, 3, h, w)
        self._graphs = GraphCache(CudaCapturer(self._stream) if self.cuda_graphs else None, mode)
        self._pinned: Any = None
        self._eager: Any = None
        logger.info("torch backend on %s (%s, CUDA graphs %s)", self._device, self._dtype, self.cuda_graphs)

    # ------------------------------------------------------------------ InferenceBackend
    @property
    def info(self) -> ModelInfo:
        return self._info

    def infer(self, batch: FloatArray) -> tuple[FloatArray, FloatArray]:
        """NumPy in and out (the ONNX Runtime contract); on CUDA via the same graphs as the device path."""
        torch = self._torch
        n, _, h, w = batch.shape
        with self._stream_context(), torch.inference_mode():
            buf = self.input_buffer(n, (h, w))
            if self._device.type == "cuda":
                host = self._pinned_like(batch)
                buf.copy_(host, non_blocking=True)
            else:
                buf.copy_(torch.from_numpy(batch))
            head, protos = self.run_input(n, (h, w))
            head_np, protos_np = head.float().cpu().numpy(), protos.float().cpu().numpy()
        return as_float32(head_np), as_float32(protos_np)

    def device_path(self) -> TorchBackend | None:
        return self if self.device_ops else None

    def close(self) -> None:
        self._graphs.clear()
        self._inputs.clear()
        self._pinned = None

    # ------------------------------------------------------------------ device path (DeviceBackend)
    @property
    def device(self) -> Any:
        return self._device

    @property
    def stream(self) -> Any:
        return self._stream

    @property
    def dtype(self) -> Any:
        return self._dtype

    @property
    def graphs(self) -> bool:
        return self.cuda_graphs

    @property
    def max_batch(self) -> int | None:
        return None

    def network(self, batch: Any) -> tuple[Any, Any]:
        """The fused model's forward, eager (the device path captures it inside its own graph)."""
        return self._forward(batch)

    def input_buffer(self, batch: int, input_hw: tuple[int, int]) -> Any:
        """A view of the shape's static input (graphs), or a fresh tensor run eagerly."""
        torch = self._torch
        self._eager = None
        if self.cuda_graphs and batch <= max(self.buckets):
            static = self._inputs.get(input_hw)
            if static is None:  # sized once per shape: the largest bucket
                static = torch.zeros(
                    (max(self.buckets), 3, *input_hw), dtype=self._dtype, device=self._device
                )
                self._inputs[input_hw] = static
            return static[:batch]
        self._eager = torch.empty((batch, 3, *input_hw), dtype=self._dtype, device=self._device)
        return self._eager

    def run_input(self, batch: int, input_hw: tuple[int, int]) -> tuple[Any, Any]:
        """Replay the graph of the smallest bucket that holds ``batch`` (captured on first use)."""
        if self._eager is not None:
            return self._forward(self._eager)
        bucket = next(b for b in self.buckets if b >= batch)
        forward = functools.partial(self._forward, self._inputs[input_hw][:bucket])
        head, protos = self._graphs.run("network", (bucket, input_hw), forward)
        return head[:batch], protos[:batch]

    # ------------------------------------------------------------------ internals
    def _forward(self, x: Any) -> tuple[Any, Any]:
        with self._torch.inference_mode():
            out = self._model(x)
        head, protos = out[0]  # non-export Segment head: ((head, protos), raw)
        return head, protos

    def _stream_context(self) -> Any:
        if self._stream is None:
            import contextlib  # noqa: PLC0415

            return contextlib.nullcontext()
        return self._torch.cuda.stream(self._stream)

    def _pinned_like(self, batch: FloatArray) -> Any:
        """A pinned host copy of ``batch`` from one buffer that grows only when a larger batch arrives."""
        torch = self._torch
        size = batch.size
        if self._pinned is None or self._pinned.numel() < size:
            if self._stream is not None:
                self._stream.synchronize()  # the previous copy may still read the old buffer
            self._pinned = torch.empty(size, dtype=torch.float32, pin_memory=True)
        view = self._pinned[:size].view(batch.shape)
        np.copyto(view.numpy(), batch)
        return view  # copy_ into the (maybe FP16) device buffer converts on the way


def _load_model(weights: Path, device: Any, half: bool) -> Any:
    """Load and fuse on the CPU, where only a bad file can fail (``ModelError``); then move to
    ``device``, where only the GPU can fail (no kernels for it, out of memory, an old driver): that
    is a ``GpuError`` naming the way round, never "not a valid model file"."""
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_VERBOSE", "false")
    try:
        from ultralytics.nn.tasks import load_checkpoint  # noqa: PLC0415 - slow import
    except ImportError:
        raise BackendUnavailableError(
            "the torch backend needs ultralytics: pip install ultralytics"
        ) from None
    try:
        model, _ = load_checkpoint(str(weights), device="cpu", fuse=False)  # type: ignore[no-untyped-call]
        model = model.fuse(verbose=False)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{weights} is not a valid Ultralytics model file ({first})") from None
    task = getattr(model, "task", None)
    if task != "segment":
        raise ModelError(f"{weights} is a '{task}' model, not a segmentation model: use a -seg model")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        model = model.to(device)
        return model.half() if half else model.float()
    except Exception as exc:
        from streamseg.gpu.failures import as_gpu_error  # noqa: PLC0415

        error = as_gpu_error(exc)
        if error is None:
            raise
        raise error from exc


__all__ = ["DEFAULT_BUCKETS", "TorchBackend"]
