"""The self-check's results on disk, keyed by everything that could change them.

Why a key this wide: a new driver, another PyTorch, another model file or another streamseg can each
change whether a graph replays like the eager run or NVDEC decodes like the CPU, so each makes a new
entry; nothing else does, so a restart reads the last answer instead of paying seconds again. The
model is identified by path, size and modification time (hashing a large model would cost what the
cache saves). The file is small JSON under the user's cache folder (``$STREAMSEG_CACHE_DIR``, else
``$XDG_CACHE_HOME/streamseg``, else ``~/.cache/streamseg``); a cache that cannot be read or written
only costs the check again.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from streamseg.capture import default_cache_dir
from streamseg.pipeline.selfcheck.steps import Step

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

CACHE_FILE = "selfcheck.json"
MAX_ENTRIES = 32  # oldest entries dropped beyond this (a machine seldom sees more GPU x model pairs)


@dataclass(frozen=True)
class Identity:
    """What the self-check's answers depend on."""

    gpu: str
    capability: str
    driver: str
    torch: str
    model: str
    streamseg: str

    @property
    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def identity(device: torch.device, model: Path | str | None) -> Identity:
    """This GPU, its driver, this PyTorch and ``model`` (a file: path, size and mtime)."""
    import torch  # noqa: PLC0415

    from streamseg import __version__  # noqa: PLC0415

    if device.type == "cuda":
        index = device.index or 0
        major, minor = torch.cuda.get_device_capability(index)
        gpu, capability = torch.cuda.get_device_name(index), f"{major}.{minor}"
    else:
        gpu, capability = device.type, ""
    return Identity(
        gpu, capability, driver_version(), str(torch.__version__), model_identity(model), __version__
    )


def model_identity(model: Path | str | None) -> str:
    if model is None:
        return ""
    path = Path(model).expanduser()
    try:
        stat = path.stat()
    except OSError:
        return str(model)
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def driver_version() -> str:
    """The NVIDIA driver's version (NVML), or "unknown"."""
    try:
        import pynvml  # noqa: PLC0415

        pynvml.nvmlInit()
    except Exception:
        return "unknown"
    try:
        version = pynvml.nvmlSystemGetDriverVersion()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:
        return "unknown"
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            logger.debug("nvmlShutdown failed", exc_info=True)


class StepCache:
    """The steps checked before for one ``Identity`` key, in ``folder/selfcheck.json``."""

    def __init__(self, folder: Path | None = None) -> None:
        self.path = (folder if folder is not None else default_cache_dir()) / CACHE_FILE

    def load(self, key: str) -> dict[str, Step]:
        raw = self._entries().get(key)
        if not isinstance(raw, dict):
            return {}
        steps = (Step.from_json(name, value) for name, value in raw.items())
        return {step.name: step for step in steps if step is not None}

    def store(self, key: str, steps: dict[str, Step]) -> None:
        """Add ``steps`` to ``key``'s entry (the newest entry last), written atomically."""
        entries = self._entries()
        entry = entries.pop(key, {})
        merged = dict(entry) if isinstance(entry, dict) else {}
        merged.update({name: step.to_json() for name, step in steps.items()})
        entries[key] = merged
        kept = dict(list(entries.items())[-MAX_ENTRIES:])
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".selfcheck-", suffix=".json", dir=self.path.parent)
        except OSError as exc:
            logger.info(
                "cannot write the GPU self-check cache %s (%s); it runs again next time", self.path, exc
            )
            return
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(kept, fh, indent=1)
            os.replace(tmp, self.path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            logger.info(
                "cannot write the GPU self-check cache %s (%s); it runs again next time", self.path, exc
            )

    def _entries(self) -> dict[str, object]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return raw if isinstance(raw, dict) else {}
