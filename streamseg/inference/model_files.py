"""Turn ``--model`` into a validated ONNX file: download the default weights, export ``.pt`` once, cache.

Exports are cached under ``engines/`` keyed by the weights' sha256 and the export settings, so a
second run with the same weights starts without exporting. Ultralytics is imported only here and
only when a ``.pt`` actually has to be downloaded or exported (it is slow to import).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from streamseg.errors import ModelError, ModelNotFoundError

logger = logging.getLogger(__name__)

EXPORT_SETTINGS: dict[str, Any] = {"format": "onnx", "dynamic": True, "simplify": True, "opset": None}
_DOWNLOADABLE_PREFIXES = ("yolov8", "yolo11", "yolo26", "yolov9", "yolov5")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_model(model: str, engines_dir: Path) -> Path:
    """Path of an ONNX file for ``model`` (a -seg ``.pt`` or an ``.onnx``); exports and caches as needed."""
    path = Path(model).expanduser()
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        if not path.is_file():
            raise ModelNotFoundError(f"model file not found: {model}")
        return path
    if suffix != ".pt":
        raise ModelError(
            f"unsupported model format '{path.suffix or model}': use an Ultralytics -seg .pt or an .onnx"
        )
    if not path.is_file():
        path = _download(model, engines_dir)
    return _export_cached(path, engines_dir)


def resolve_weights(model: str, engines_dir: Path) -> Path:
    """Path of the Ultralytics ``.pt`` for ``model`` (downloading the default weights as needed): what the
    torch backend loads. An ``.onnx`` cannot be turned back into weights, so it is an error here."""
    path = Path(model).expanduser()
    if path.suffix.lower() != ".pt":
        raise ModelError(
            f"the torch backend needs Ultralytics .pt weights, got '{model}' "
            "(use --backend onnxruntime or tensorrt for an .onnx)"
        )
    return path if path.is_file() else _download(model, engines_dir)


def export_key(weights: Path) -> str:
    """Cache key: weights content + export settings + exporter version."""
    settings = dict(EXPORT_SETTINGS, ultralytics=_ultralytics_version())
    settings_hash = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]
    return f"{sha256_of(weights)[:16]}-{settings_hash}"


def _export_cached(weights: Path, engines_dir: Path) -> Path:
    target = engines_dir / f"{weights.stem}-{export_key(weights)}.onnx"
    if target.is_file():
        logger.info("using cached export %s", target)
        return target
    _check_writable(engines_dir)
    logger.info("exporting %s to ONNX (once; cached as %s)", weights, target)
    yolo = _load_ultralytics(weights)
    task = getattr(yolo, "task", None)
    if task != "segment":
        raise ModelError(f"{weights} is a '{task}' model, not a segmentation model: use a -seg model")
    with tempfile.TemporaryDirectory(prefix="streamseg-export-") as tmp:
        # Ultralytics writes next to the weights; export from a private copy so read-only folders work.
        local = Path(tmp) / weights.name
        shutil.copyfile(weights, local)
        yolo = _load_ultralytics(local)
        try:
            exported = Path(str(yolo.export(**{k: v for k, v in EXPORT_SETTINGS.items() if v is not None})))
        except Exception as exc:  # ultralytics raises many types; one line is what the user needs
            raise ModelError(f"exporting {weights} to ONNX failed: {_one_line(exc)}") from exc
        partial = target.with_suffix(".onnx.partial")
        shutil.move(str(exported), partial)
        os.replace(partial, target)
    return target


def _download(model: str, engines_dir: Path) -> Path:
    name = Path(model).name
    if Path(model).parent != Path(".") or not name.startswith(_DOWNLOADABLE_PREFIXES):
        raise ModelNotFoundError(
            f"model file not found: {model} (pass an existing .pt or .onnx with --model PATH)"
        )
    cached = engines_dir / name
    if cached.is_file():
        return cached
    _check_writable(engines_dir)
    _quiet_ultralytics()
    from ultralytics.utils.downloads import attempt_download_asset  # noqa: PLC0415 - slow import

    logger.info("downloading %s to %s", name, cached)
    try:
        got = Path(attempt_download_asset(str(cached)))
    except Exception as exc:
        raise ModelNotFoundError(
            f"could not download {name} ({_one_line(exc)}); offline? pass a local model with --model PATH"
        ) from None
    if not got.is_file():
        raise ModelNotFoundError(f"could not download {name}; offline? pass a local model with --model PATH")
    return got


def _load_ultralytics(weights: Path) -> Any:
    _quiet_ultralytics()
    try:
        from ultralytics import YOLO  # type: ignore[attr-defined]  # noqa: PLC0415 - slow import

        return YOLO(str(weights))
    except Exception as exc:
        cause = _one_line(exc, first=True).split(" — ")[-1]
        raise ModelError(f"{weights} is not a valid Ultralytics model file ({cause})") from None


def _quiet_ultralytics() -> None:
    """Never let Ultralytics pip-install packages at run time, and keep its banner out of our output."""
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_VERBOSE", "false")


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create the model cache folder {folder}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise ModelError(f"the model cache folder {folder} is not writable (set model.engines_dir)")


def _ultralytics_version() -> str:
    try:
        return version("ultralytics")
    except PackageNotFoundError:
        return "none"


def _one_line(exc: BaseException, first: bool = False) -> str:
    """One line of an error (the last, or the first), without the emoji Ultralytics decorates it with."""
    lines = str(exc).strip().splitlines()
    text = (lines[0] if first else lines[-1]) if lines else type(exc).__name__
    return "".join(ch for ch in text if ord(ch) < 0x2000).strip()[:200]
