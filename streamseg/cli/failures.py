"""How an error ends a command: one line on stderr and an exit code, a traceback only with ``--debug``.

Kept out of ``main`` so the command's wiring stays small. A ``StreamsegError`` is already its line; a
GPU failure (``gpu.failures``: a CUDA error from the model's load, a stage thread re-raised by
``Pipeline.join``, the decoder) becomes one too, naming the flag that goes round it; anything else is
an internal error that asks for ``--debug``.
"""

from __future__ import annotations

import sys

from streamseg.errors import StreamsegError
from streamseg.gpu.failures import as_gpu_error


def report_error(exc: Exception) -> int:
    """Print ``exc`` as one line on stderr; the exit code the command ends with."""
    error = exc if isinstance(exc, StreamsegError) else as_gpu_error(exc)
    if error is not None:
        print(f"streamseg: error: {error}", file=sys.stderr)
        return error.exit_code
    print(f"streamseg: internal error: {type(exc).__name__}: {exc} (rerun with --debug)", file=sys.stderr)
    return 1
