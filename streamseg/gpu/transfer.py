"""Copies between host and device that never wait unless asked to, and the one that does.

Why: on a GPU every wait for the device stalls the inference thread and every pageable copy is a
hidden wait. Uploads go through pinned staging (queued on the stream), downloads into pinned buffers
(read once the batch's event has completed), and the batch's single synchronisation is
``download_and_wait``, which also tells ``gpu.trace`` so the wait is counted where no GPU is at hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from streamseg.gpu import trace

if TYPE_CHECKING:
    import torch


def upload(array: np.ndarray[Any, Any], device: torch.device) -> torch.Tensor:
    """A small host array on ``device`` without a synchronisation (pinned staging on CUDA)."""
    import torch  # noqa: PLC0415

    host = torch.from_numpy(np.ascontiguousarray(array))
    if device.type != "cuda":
        return host
    pinned = torch.empty(host.shape, dtype=host.dtype, pin_memory=True)
    pinned.copy_(host)
    return pinned.to(device, non_blocking=True)


def upload_into(static: torch.Tensor, array: np.ndarray[Any, Any]) -> None:
    """Fill a (graph's) static device tensor from a host array of the same shape, without waiting."""
    import torch  # noqa: PLC0415

    host = torch.from_numpy(np.ascontiguousarray(array))
    if static.device.type == "cuda":
        pinned = torch.empty(host.shape, dtype=host.dtype, pin_memory=True)
        pinned.numpy()[...] = array
        host = pinned
    static.copy_(host, non_blocking=True)


def download_async(tensor: torch.Tensor) -> torch.Tensor:
    """A host copy queued behind the work already on the stream (pinned); read it once that is done."""
    import torch  # noqa: PLC0415

    if tensor.device.type != "cuda":
        return tensor.clone()  # a copy all the same: the tensor may be a graph's, rewritten next batch
    host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
    host.copy_(tensor, non_blocking=True)
    return host


def download_and_wait(tensor: torch.Tensor) -> np.ndarray[Any, Any]:
    """``tensor`` on the host, after waiting for the stream: the batch's one synchronisation."""
    import torch  # noqa: PLC0415

    host = download_async(tensor)
    trace.host_wait("download")
    if tensor.device.type == "cuda":
        torch.cuda.current_stream(tensor.device).synchronize()
    return host.numpy()
