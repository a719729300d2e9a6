"""What the tools share: where things are, the peer's venv, alternating arms with their medians and
ratios, a fixed-width table, and child processes (the streamseg CLI, a tool run again as a worker).

Only what at least two tools use lives here; each tool keeps its own way of measuring. The paths come
from the harness (``streamseg.testing.assets``), so a tool finds the repository and the shared assets
the way the tests do (``STREAMSEG_ASSETS`` overrides where the assets are).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, TypeVar

from streamseg.testing.assets import FIXTURE_PT, REPO, VIDEOS

__all__ = [
    "DANCE_CLIP",
    "ENGINES_DIR",
    "FIXTURE_PT",
    "HIGHWAY_CLIP",
    "PEER_VENV",
    "REPO",
    "STREET_CLIP",
    "Arms",
    "Column",
    "alternate",
    "child_env",
    "cli_command",
    "ensure_peer_venv",
    "fmt",
    "load_average",
    "print_table",
    "ratio",
    "run_cli",
    "tool_command",
]

# ------------------------------------------------------------------------------------------------ paths
ENGINES_DIR = REPO / "engines"
"""streamseg's export cache, every tool's default ``--engines-dir``: a ``.pt`` is exported to ONNX once."""
STREET_CLIP = VIDEOS / "street_pedestrians_720p30.mp4"
"""The default clip of most tools: 720p30, people walking on a street."""
DANCE_CLIP = VIDEOS / "street_dance_crowd_720p25.mp4"
HIGHWAY_CLIP = VIDEOS / "highway_cars_720p30.mp4"
PEER_VENV = REPO / ".bench" / "peer-venv"
"""Where ``ensure_peer_venv`` makes the Ultralytics venv when none is given (ignored by git)."""

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


# ---------------------------------------------------------------------------------------------- peer venv
def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_peer_venv(venv: Path, log: Callable[[str], None] = _stderr) -> Path:
    """The python of the Ultralytics venv ``venv``, made first if it does not exist.

    The peer runs in a venv of its own (a plain ``pip install ultralytics onnxruntime``) so that what is
    measured is what its users get, never streamseg's pins. Making it is a multi-GB download (torch,
    torchvision), hence ``log`` says so before it starts. Exits with a one-line message when the venv
    exists but cannot import ``ultralytics``, ``onnxruntime`` and ``cv2``.
    """
    python = venv / "bin" / "python"
    if not python.exists():
        log(
            f"peer venv {venv} does not exist: creating it with `python3 -m venv` + "
            "`pip install ultralytics onnxruntime`"
        )
        log(
            "this is a multi-GB install (torch, torchvision, opencv, ...) and takes minutes; "
            "pass --peer-venv PATH to reuse one"
        )
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--upgrade", "pip"], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "ultralytics", "onnxruntime"], check=True)
    probe = subprocess.run(
        [str(python), "-c", "import ultralytics, onnxruntime, cv2"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        raise SystemExit(
            f"bench: {python} cannot import ultralytics/onnxruntime/cv2 ({last}); "
            f"run `{python} -m pip install ultralytics onnxruntime` or pass another --peer-venv"
        )
    return python


# ---------------------------------------------------------------------------------- medians and ratios
def alternate(arms: Sequence[T], round_index: int) -> list[T]:
    """``arms`` in order on even rounds, reversed on odd ones.

    On a shared machine the load drifts within a run; alternating which arm goes first spreads a
    neighbour's burst over both arms instead of charging it to whichever always runs second.
    """
    return list(arms) if round_index % 2 == 0 else list(reversed(arms))


class Arms(Generic[K]):
    """Samples of one measure for each arm of a comparison, taken in alternating rounds.

    Quote the ratio of the medians: absolute figures on a shared machine swing by 2-3x between minutes,
    a median ignores the odd disturbed run, and a ratio of arms measured side by side cancels most of
    the drift.
    """

    def __init__(self, *names: K) -> None:
        self.names: tuple[K, ...] = names
        self.samples: dict[K, list[float]] = {name: [] for name in names}

    def order(self, round_index: int) -> list[K]:
        """The arms in the order to run them in round ``round_index`` (see ``alternate``)."""
        return alternate(self.names, round_index)

    def add(self, name: K, value: float) -> None:
        self.samples[name].append(value)

    def __getitem__(self, name: K) -> list[float]:
        return self.samples[name]

    def median(self, name: K) -> float:
        return statistics.median(self.samples[name])

    def medians(self) -> dict[K, float]:
        return {name: self.median(name) for name in self.names}

    def ratio(self, numerator: K, denominator: K) -> float:
        """Median of ``numerator`` over median of ``denominator``."""
        return self.median(numerator) / self.median(denominator)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either is missing or the denominator is zero: a side
    that did not run (no peer venv, no GPU) leaves its ratio out instead of failing the report."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


# ----------------------------------------------------------------------------------------------- tables
@dataclass(frozen=True)
class Column:
    """One column of a fixed-width table: its title, width and alignment (``>`` right, ``<`` left)."""

    title: str
    width: int
    align: Literal["<", ">"] = ">"


def fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    """``value`` formatted by ``spec`` with ``suffix`` (``"x"`` for a ratio, ``"%"``), or ``-`` for None."""
    return "-" if value is None else format(value, spec) + suffix


def _line(columns: Sequence[Column], cells: Sequence[object]) -> str:
    if len(cells) != len(columns):
        raise ValueError(f"{len(cells)} cells for {len(columns)} columns")
    return " ".join(f"{cell!s:{c.align}{c.width}}" for c, cell in zip(columns, cells, strict=True))


def print_table(columns: Sequence[Column], rows: Iterable[Sequence[object]], *, rule: bool = False) -> None:
    """The titles, a rule of dashes under them if ``rule``, then one line per row.

    Cells are printed as given (``str()``, then aligned in their column): format numbers first, with
    ``fmt`` where a value may be missing. A cell wider than its column widens that line only.
    """
    head = _line(columns, [c.title for c in columns])
    print(head)
    if rule:
        print("-" * len(head))
    for row in rows:
        print(_line(columns, row))


def load_average() -> float | None:
    """The 1-minute load average, or None where the system has none.

    Printed beside timings: on a shared machine it says how far the absolute figures can be trusted.
    """
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


# -------------------------------------------------------------------------------------- child processes
def child_env(**overrides: str) -> dict[str, str]:
    """This process's environment for a child that must import this checkout, plus ``overrides``.

    The repository goes first on ``PYTHONPATH``, so the child imports the same ``streamseg`` (and
    ``tools``) as this process whatever its working directory and whatever checkout the venv's
    editable install points at; empty entries are dropped (an empty entry would mean the child's
    working directory).
    """
    paths = [str(REPO), *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)), **overrides}


def cli_command(*args: str) -> list[str]:
    """``python -m streamseg ARGS`` with this interpreter: the CLI as a user runs it."""
    return [sys.executable, "-m", "streamseg", *args]


def tool_command(name: str, *args: str) -> list[str]:
    """``python -m tools.NAME ARGS`` with this interpreter: a tool run again as a worker or helper."""
    return [sys.executable, "-m", f"tools.{name}", *args]


def run_cli(
    *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m streamseg ARGS`` to the end, its output captured as text.

    ``env`` defaults to ``child_env()``; pass ``child_env(KEY=VALUE)`` to change a variable. With
    ``check`` a non-zero exit raises ``CalledProcessError`` (its output attached).
    """
    return subprocess.run(
        cli_command(*args),
        env=child_env() if env is None else env,
        capture_output=True,
        text=True,
        errors="replace",
        check=check,
    )
