"""Model runtimes behind one small interface; each heavy runtime is imported only in its own module."""

from __future__ import annotations

from streamseg.inference.runtimes.base import InferenceBackend, ModelInfo, create_backend

__all__ = ["InferenceBackend", "ModelInfo", "create_backend"]
