"""``ModelConfig`` -> a ready backend: pick the runtime (``auto``: the one policy, here), then the model
file that runtime reads.

Why here and not in ``resolve_model``: each runtime wants a different artifact from the same
``--model``: ONNX Runtime an ``.onnx`` (exported and cached), PyTorch the ``.pt`` itself, TensorRT a
plan built from the ONNX export for this GPU (found or built in ``engines/``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from streamseg.config import ModelConfig
from streamseg.config.devices import parse_device
from streamseg.errors import ConfigError, StreamsegError
from streamseg.inference.input_size import input_size
from streamseg.inference.model_files import export_key, resolve_model, resolve_weights, sha256_of
from streamseg.inference.runtimes import probe
from streamseg.inference.runtimes.base import InferenceBackend
from streamseg.inference.runtimes.registry import NAMES, create_backend

logger = logging.getLogger(__name__)

PLAN_SUFFIXES = (".plan", ".engine")


def resolve_for_backend(backend: str, model: str, engines_dir: Path) -> Path:
    """The file ``backend`` (not ``auto``) loads for ``model``."""
    suffix = Path(model).suffix.lower()
    if backend == "torch":
        return resolve_weights(model, engines_dir)
    if backend == "tensorrt" and suffix in PLAN_SUFFIXES:
        return Path(model)
    return resolve_model(model, engines_dir)  # .onnx as is; .pt exported once (TensorRT builds from it)


def choose_backend(requested: str, device: str, warn: bool = True) -> tuple[str, str, str]:
    """The runtime for ``requested`` on ``device``, before the model file is known: (backend, device,
    why). ``auto``: TensorRT if importable and a GPU is there, else PyTorch CUDA, else ONNX Runtime;
    ``--device cpu`` with ``auto`` means ONNX Runtime on the CPU."""
    if requested != "auto":
        return requested, device, "requested"
    kind, index = parse_device(device)
    if kind == "cpu":
        return "onnxruntime", "cpu", "auto with --device cpu"
    cuda = probe.cuda_check(index)
    if not cuda.ok:
        if warn:
            logger.warning("--backend auto: no usable GPU (%s); using ONNX Runtime on the CPU", cuda.detail)
        return "onnxruntime", "cpu", f"no GPU: {cuda.detail}"
    trt = probe.tensorrt_check()
    if trt.ok:
        return "tensorrt", device, f"TensorRT {trt.detail} and {cuda.detail}"
    return "torch", device, f"{cuda.detail}; TensorRT unavailable: {trt.detail}"


def select_backend(cfg: ModelConfig, quiet: bool = False) -> tuple[str, str, str]:
    """The runtime and device ``cfg`` resolves to: (backend, device, why). ``auto`` (``choose_backend``)
    then gives way to what the model file allows: a file that is not a ``.pt`` cannot go to PyTorch,
    a ``.pt`` goes to PyTorch rather than a TensorRT plan nobody built, and ONNX Runtime without its CUDA
    provider runs on the CPU. TensorRT is taken only for a plan that is already built (see
    ``usable_plan``), or a ``.plan``/``.engine``: building one takes minutes, which ``auto`` never
    spends unasked."""
    backend, device, why = choose_backend(cfg.backend, cfg.device, warn=not quiet)
    suffix = Path(cfg.path).suffix.lower()
    if cfg.backend == "auto":
        if backend == "tensorrt" and suffix not in PLAN_SUFFIXES:
            plan = usable_plan(cfg.path, Path(cfg.engines_dir), parse_device(device)[1])
            if plan is None:  # building one takes minutes: never unasked
                backend = "torch"
                why = (
                    f"{why}; no TensorRT plan for {cfg.path} in {cfg.engines_dir} yet "
                    f"(streamseg build-engine --model {cfg.path} builds one)"
                )
        if backend == "torch" and suffix != ".pt":
            backend, device, why = "onnxruntime", cfg.device, f"{cfg.path} is not a .pt"
        if backend == "onnxruntime" and device != "cpu" and not _ort_has_cuda():
            backend, device, why = "onnxruntime", "cpu", f"{why}; ONNX Runtime has no CUDA provider"
            if not quiet:
                logger.warning("--backend auto: %s, running ONNX Runtime on the CPU", why)
        if not quiet:
            logger.info("--backend auto: %s on %s (%s)", backend, device, why)
    if backend not in NAMES:
        raise ConfigError(f"unknown backend '{backend}': use auto, {', '.join(NAMES)}")
    return backend, device, why


def open_backend(cfg: ModelConfig) -> InferenceBackend:
    """Create the configured backend (see ``select_backend``)."""
    backend, device, _ = select_backend(cfg)
    engines = Path(cfg.engines_dir)
    builds = backend == "tensorrt" and Path(cfg.path).suffix.lower() not in PLAN_SUFFIXES
    if builds and usable_plan(cfg.path, engines, parse_device(device)[1]) is None:
        logger.warning(
            "building a TensorRT plan for %s takes minutes; it is cached in %s for the next runs",
            cfg.path,
            engines,
        )
    path = resolve_for_backend(backend, cfg.path, engines)
    options: dict[str, object] = {"cuda_graphs": cfg.cuda_graphs} if backend == "torch" else {}
    if backend == "tensorrt":
        imgsz = input_size(cfg).value  # a plan is built for one size: the run's (the checkpoint's when unset)
        options = {"engines_dir": Path(cfg.engines_dir), "imgsz": imgsz, "max_batch": max(cfg.batch, 1)}
    return create_backend(backend, path, device, cfg.threads, **options)


def usable_plan(model: str, engines_dir: Path, index: int) -> Path | None:
    """A TensorRT plan in ``engines_dir`` built from ``model`` (a ``.pt`` through its cached ONNX
    export, or an ``.onnx``) that loads on GPU ``index`` with this TensorRT, or None. Cheap: no
    export, no build; what the TensorRT runtime would find and take (``tensorrt.runtime``)."""
    onnx = _cached_onnx(model, engines_dir)
    if onnx is None:
        return None
    from streamseg.inference.runtimes.tensorrt.library import (  # noqa: PLC0415
        checked_sidecar,
        import_tensorrt,
    )
    from streamseg.inference.runtimes.tensorrt.plan import find_plan  # noqa: PLC0415

    onnx_sha = sha256_of(onnx)
    plans = find_plan(engines_dir, onnx.stem, onnx_sha)
    if not plans:
        return None
    try:
        trt = import_tensorrt()
    except StreamsegError:
        return None
    for plan in plans:
        try:
            checked_sidecar(plan, index, trt, onnx_sha)
        except StreamsegError as exc:
            logger.debug("not using %s: %s", plan, exc)
            continue
        return plan
    return None


def _cached_onnx(model: str, engines_dir: Path) -> Path | None:
    """The ONNX file a plan for ``model`` is built from, if it is already there (None: not yet)."""
    path = Path(model).expanduser()
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return path if path.is_file() else None
    if suffix != ".pt":
        return None
    weights = path if path.is_file() else engines_dir / path.name  # the default model, downloaded
    if not weights.is_file():
        return None
    onnx = engines_dir / f"{weights.stem}-{export_key(weights)}.onnx"
    return onnx if onnx.is_file() else None


def _ort_has_cuda() -> bool:
    import onnxruntime as ort  # noqa: PLC0415

    return "CUDAExecutionProvider" in ort.get_available_providers()
