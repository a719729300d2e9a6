"""Errors that reach the user as one clear line.

Each class also subclasses the matching builtin, so callers that only know the builtin
(``FileNotFoundError``, ``ValueError`` ...) still catch them.
"""

from __future__ import annotations


class StreamsegError(Exception):
    """Base class: the CLI prints ``str(error)`` on one line and exits non-zero."""

    exit_code = 2


class ConfigError(StreamsegError, ValueError):
    """Invalid YAML, an unknown key, or a nonsensical value."""


class SourceError(StreamsegError, OSError):
    """A source cannot be opened or read (missing file, not a video, no such webcam)."""


class SourceNotFoundError(SourceError, FileNotFoundError):
    """The source path does not exist."""


class DecodeError(SourceError):
    """A video stopped decoding part-way (truncated or corrupt)."""


class SourceTimeout(SourceError, TimeoutError):
    """A source stopped delivering frames within its timeout."""


class SourceGaveUp(SourceError, ConnectionError):
    """A live source stayed unreachable for more attempts than ``live.max_retries`` allows."""


class SourceExistsError(StreamsegError, ValueError):
    """A source with that name is already running (names must be unique)."""


class SourceLimitError(StreamsegError, RuntimeError):
    """One more source would pass ``sources.max`` or leave the running ones too few frames."""


class SourceForbidden(StreamsegError, PermissionError):
    """A source this run is not allowed to open (a local file outside ``api.file_roots``)."""


class UnknownSourceError(StreamsegError, LookupError):
    """No source of that name is running."""


class ClusterError(StreamsegError, RuntimeError):
    """The Ray cluster cannot be reached, or it refused what was asked (placement, a camera)."""


class ModelError(StreamsegError, ValueError):
    """The model file is missing, invalid, or not a segmentation model."""


class ModelNotFoundError(ModelError, FileNotFoundError):
    """The model file does not exist and cannot be downloaded."""


class BackendUnavailableError(StreamsegError, ImportError):
    """An optional runtime (TensorRT, CUDA, NVML ...) is not installed; the message names the extra."""


class GpuError(StreamsegError, RuntimeError):
    """The GPU failed (out of memory, no kernels for it, a driver too old ...): one line naming what
    happened and the flag that goes round it (``streamseg.gpu.failures``); the original is its cause.
    ``kind`` names the failure for code that acts on it ("out of memory", "graph capture" ...)."""

    exit_code = 1

    def __init__(self, message: str, kind: str = "gpu") -> None:
        super().__init__(message)
        self.kind = kind


class OutputError(StreamsegError, OSError):
    """A recording, results or telemetry file cannot be written."""


class DashboardError(StreamsegError, OSError):
    """The dashboard cannot start (port in use, address not available)."""


class PipelineStopped(StreamsegError):
    """Raised inside stages when the stop event is set; never shown to the user."""
