"""Model runtimes behind one small interface (``base``), built by name (``registry``), chosen by one
policy (``select``) from what this machine has (``probe``); each heavy runtime is imported only in its
own module."""

from __future__ import annotations

from streamseg.inference.runtimes.base import InferenceBackend, ModelInfo
from streamseg.inference.runtimes.registry import create_backend

__all__ = ["InferenceBackend", "ModelInfo", "create_backend"]
