"""The network input size a run uses when ``model.imgsz`` is not given: what Ultralytics would run the
same model at, so that ``--model m.pt`` sees what ``YOLO("m.pt").predict()`` sees.

Ultralytics keeps a ``.pt``'s ``train_args["imgsz"]`` as its predict default (``Model._reset_ckpt_args``:
320 for a model trained at 320, 1024 for many small-object models); an exported model with a fixed input
runs at that input; anything else at 640. The checkpoint is read without torch or Ultralytics (its
pickle with every class stubbed out: milliseconds, and nothing in it is executed).
"""

from __future__ import annotations

import functools
import io
import logging
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamseg.config import ModelConfig

logger = logging.getLogger(__name__)

DEFAULT_IMGSZ = 640  # Ultralytics' own default (``cfg/default.yaml``)
STRIDE = 32
MAX_IMGSZ = 4096


@dataclass(frozen=True, slots=True)
class InputSize:
    """The longest side of the network input, and why (for the start-up lines)."""

    value: int
    why: str

    def __str__(self) -> str:
        return f"imgsz {self.value} ({self.why})"


def input_size(model: ModelConfig) -> InputSize:
    """``model.imgsz`` when given, else the size Ultralytics would use for ``model.path`` (a fixed input
    is only known once the model is open: ``fixed_input_size``); downloads the default weights first
    when they are not here yet, as opening them would."""
    size = known_input_size(model, fetch=True)
    return size if size is not None else InputSize(DEFAULT_IMGSZ, "the default")


def known_input_size(model: ModelConfig, fetch: bool = False) -> InputSize | None:
    """``input_size``, or None when it needs weights that are not downloaded yet (and not ``fetch``)."""
    if model.imgsz is not None:
        return InputSize(model.imgsz, "given")
    path = Path(model.path).expanduser()
    if path.suffix.lower() != ".pt":
        return InputSize(DEFAULT_IMGSZ, "the default, unless the model's input is fixed")
    if not path.is_file():
        downloaded = Path(model.engines_dir) / path.name
        if not downloaded.is_file() and not fetch:
            return None
        from streamseg.inference.model_files import resolve_weights  # noqa: PLC0415

        path = downloaded if downloaded.is_file() else resolve_weights(model.path, Path(model.engines_dir))
    return _checkpoint_size(path.resolve(), path.stat().st_mtime_ns)


def fixed_input_size(given: InputSize, fixed_hw: tuple[int, int] | None, explicit: bool) -> InputSize:
    """A model whose input is fixed runs at that input, as Ultralytics runs a static export (a size
    the user gave is kept: the letterbox uses the fixed input either way)."""
    if fixed_hw is None or explicit:
        return given
    return InputSize(max(fixed_hw), "the model's fixed input")


@functools.lru_cache(maxsize=16)
def _checkpoint_size(path: Path, _mtime_ns: int) -> InputSize:
    try:
        raw = read_train_imgsz(path)
    except Exception as exc:  # a checkpoint we cannot read this way: Ultralytics' default, said once
        logger.warning("could not read the training size of %s (%s); imgsz %d", path, exc, DEFAULT_IMGSZ)
        return InputSize(DEFAULT_IMGSZ, "the default; the checkpoint's could not be read")
    if raw is None:
        return InputSize(DEFAULT_IMGSZ, "the default; the checkpoint has no train args")
    side = checkpoint_side(raw)
    if side is None:
        logger.warning("%s: train_args imgsz %r is not a size; imgsz %d", path, raw, DEFAULT_IMGSZ)
        return InputSize(DEFAULT_IMGSZ, "the default; the checkpoint's is not a size")
    return InputSize(side, "the checkpoint's")


def checkpoint_side(raw: Any) -> int | None:
    """A ``train_args["imgsz"]`` (an int, or [h, w]) as the longest side, rounded up to the stride as
    Ultralytics' ``check_imgsz`` does; None when it is not a size."""
    items = list(raw) if isinstance(raw, (list, tuple)) else [raw]
    sides = [int(s) for s in items if isinstance(s, int) and not isinstance(s, bool) and s > 0]
    if not sides or len(sides) != len(items):
        return None
    side = -(-max(sides) // STRIDE) * STRIDE
    return min(max(side, STRIDE), MAX_IMGSZ)


def read_train_imgsz(path: Path) -> Any:
    """``train_args["imgsz"]`` of an Ultralytics checkpoint (a torch zip file), or None without it."""
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if not names:
            raise ValueError("not a torch checkpoint")
        data = _StubUnpickler(io.BytesIO(archive.read(names[0]))).load()
    args = data.get("train_args") if isinstance(data, dict) else None
    return args.get("imgsz") if isinstance(args, dict) else None


class _Stub:
    """Whatever class the pickle names: takes any arguments and state, keeps none."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> _Stub:
        return _Stub()

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass


class _StubUnpickler(pickle.Unpickler):
    """Plain containers come back as they are; every class and tensor storage is a ``_Stub``."""

    def find_class(self, module: str, name: str) -> Any:
        return _Stub

    def persistent_load(self, pid: Any) -> Any:
        return None
