"""The runtimes by name, built for an already resolved model file: a registry above ``base`` and the
concrete runtimes (each imported only when asked for), so nothing below imports it back. Resolving
``auto`` is not done here but in ``select``, the one place that decides."""

from __future__ import annotations

import logging
from pathlib import Path

from streamseg.errors import ConfigError
from streamseg.inference.runtimes.base import InferenceBackend

logger = logging.getLogger(__name__)

NAMES = ("onnxruntime", "torch", "tensorrt")


def create_backend(
    backend: str, model_path: Path, device: str, threads: int = 0, **options: object
) -> InferenceBackend:
    """Instantiate runtime ``backend`` (``onnxruntime``, ``torch`` or ``tensorrt``) for ``model_path``
    (see ``select.open_backend`` for a ``ModelConfig``, ``auto`` included)."""
    if backend == "onnxruntime":
        from streamseg.inference.runtimes.onnxruntime import OnnxRuntimeBackend  # noqa: PLC0415

        return OnnxRuntimeBackend(model_path, device=device, threads=threads)
    if backend == "torch":
        from streamseg.inference.runtimes.torch import TorchBackend  # noqa: PLC0415

        if model_path.suffix.lower() != ".pt":
            raise ConfigError(f"the torch backend loads Ultralytics .pt weights, not {model_path.name}")
        return TorchBackend(model_path, device=device, threads=threads, **options)  # type: ignore[arg-type]
    if backend == "tensorrt":
        from streamseg.inference.runtimes.tensorrt.runtime import TensorRTBackend  # noqa: PLC0415

        return TensorRTBackend(model_path, device=device, **options)  # type: ignore[arg-type]
    hint = " (resolve auto with select.choose_backend)" if backend == "auto" else ""
    raise ConfigError(f"unknown backend '{backend}': use {', '.join(NAMES)}{hint}")
