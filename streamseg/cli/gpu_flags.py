"""``run``'s flags for the GPU path's way out and its memory: ``--cuda-graphs`` and ``--gpu-memory``.

Kept beside the model group's other flags so a user who meets a GPU problem finds the switch where
the hint names it (``--cuda-graphs off``, ``--decode cpu``)."""

from __future__ import annotations

import argparse
from typing import Any

from streamseg.config import CUDA_GRAPHS_CHOICES


def add_gpu_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--cuda-graphs",
        choices=CUDA_GRAPHS_CHOICES,
        help="replay the GPU path's batch as CUDA graphs: auto (a graph that fails to capture or to "
        "replay like the eager run is dropped with one line, that step then runs eagerly), on (such a "
        "failure stops the run), off (always eager) (default: auto)",
    )
    group.add_argument(
        "--gpu-memory",
        metavar="SIZE",
        help="GPU memory for decoded frames and captured graphs, e.g. 4GB; past it frames a consumer "
        "holds are moved to the host and the oldest graphs are freed (default: auto, from the GPU's memory)",
    )


def gpu_overrides(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``model`` and ``pipeline`` values from these flags (None: not given)."""
    return {"cuda_graphs": args.cuda_graphs}, {"gpu_memory": args.gpu_memory}
