"""TensorRT backend and plan builder. The only module that imports ``tensorrt``, and only inside functions.

Why TensorRT: fused FP16/INT8 kernels tuned for the exact GPU. Plans are built from the ONNX export
with one optimization profile over the batch range at a fixed input size, and carry a JSON sidecar
(``trt_plan``) so a plan from another GPU or TensorRT version is refused with one line instead of
failing obscurely. I/O are PyTorch CUDA tensors allocated once at the profile's largest batch and
bound by address, on the same CUDA stream the shared pre/postprocessing (``device_path``) uses.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamseg.errors import BackendUnavailableError, ModelError
from streamseg.gpu.devices import parse_device
from streamseg.inference.runtimes.base import InferenceBackend, ModelInfo, as_float32
from streamseg.inference.runtimes.tensorrt.plan import (
    BuildSpec,
    EngineMismatchError,
    Sidecar,
    check_sidecar,
    find_plan,
    plan_name,
    read_sidecar,
    write_sidecar,
)
from streamseg.types import FloatArray

if TYPE_CHECKING:
    import tensorrt as trt

log = logging.getLogger(__name__)

INSTALL = "pip install 'streamseg[gpu]' (TensorRT 10 for your CUDA version)"
WORKSPACE_BYTES = 4 << 30


def tensorrt_version() -> tuple[str | None, str]:
    """(version, "") when the real TensorRT runtime imports, else (None, why not)."""
    if importlib.util.find_spec("tensorrt") is None:
        return None, f"not installed ({INSTALL})"
    try:
        import tensorrt as trt  # noqa: PLC0415
    except Exception as exc:  # a broken install raises anything from OSError to RuntimeError
        return None, f"import failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    version = getattr(trt, "__version__", None)
    if getattr(trt, "__file__", None) is None or not hasattr(trt, "Builder") or version is None:
        return None, f"only type stubs are installed (tensorrt-stubs), not the runtime ({INSTALL})"
    return str(version), ""


def import_tensorrt() -> Any:
    version, why = tensorrt_version()
    if version is None:
        raise BackendUnavailableError(f"TensorRT is unavailable: {why}")
    import tensorrt as trt  # noqa: PLC0415

    return trt


def gpu_identity(index: int) -> tuple[str, str]:
    """(GPU name, compute capability "8.9") of CUDA device ``index``, via PyTorch."""
    import torch  # noqa: PLC0415

    if not torch.cuda.is_available():
        raise BackendUnavailableError("TensorRT needs a CUDA GPU and the CUDA build of PyTorch; none found")
    major, minor = torch.cuda.get_device_capability(index)
    return torch.cuda.get_device_name(index), f"{major}.{minor}"


def checked_sidecar(plan: Path, device_index: int, trt_mod: Any, model_sha256: str | None = None) -> Sidecar:
    """``plan``'s sidecar, once checked against this GPU, this TensorRT and (when given) the model the
    plan must come from; ``EngineMismatchError`` says why a plan cannot be used."""
    gpu_name, capability = gpu_identity(device_index)
    sidecar = read_sidecar(plan)
    check_sidecar(
        sidecar,
        plan,
        gpu_name=gpu_name,
        compute_capability=capability,
        tensorrt_version=str(trt_mod.__version__),
        model_sha256=model_sha256,
    )
    return sidecar


def _logger(trt_mod: Any) -> trt.ILogger:
    logger: trt.ILogger = trt_mod.Logger(trt_mod.Logger.WARNING)
    return logger


def build_engine(
    onnx_path: Path,
    plan_path: Path,
    spec: BuildSpec,
    device_index: int = 0,
    weights_sha256: str | None = None,
) -> Sidecar:
    """Build ``plan_path`` (+ sidecar) from an ONNX export; INT8 calibrates on ``spec.calib_images``."""
    from streamseg.inference.model_files import sha256_of  # noqa: PLC0415

    trt_mod = import_tensorrt()
    import torch  # noqa: PLC0415

    torch.cuda.set_device(device_index)
    gpu_name, capability = gpu_identity(device_index)
    logger = _logger(trt_mod)
    builder: trt.Builder = trt_mod.Builder(logger)
    network: trt.INetworkDefinition = builder.create_network(0)  # explicit batch is the only mode in 10.x
    parser: trt.OnnxParser = trt_mod.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelError(f"TensorRT cannot parse {onnx_path}: {errors[:200]}")
    config: trt.IBuilderConfig = builder.create_builder_config()
    config.set_memory_pool_limit(trt_mod.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    inp = network.get_input(0)
    profile: trt.IOptimizationProfile = builder.create_optimization_profile()
    shapes = spec.profile()
    profile.set_shape(
        inp.name, trt_mod.Dims(shapes["min"]), trt_mod.Dims(shapes["opt"]), trt_mod.Dims(shapes["max"])
    )
    config.add_optimization_profile(profile)
    if spec.precision in ("fp16", "int8"):
        config.set_flag(trt_mod.BuilderFlag.FP16)
    calibrator = None
    if spec.precision == "int8":
        if not spec.calib_images:
            raise ModelError("INT8 needs calibration images (--calib-images DIR)")
        config.set_flag(trt_mod.BuilderFlag.INT8)
        calibrator = make_calibrator(trt_mod, Path(spec.calib_images), spec, plan_path, device_index)
        config.int8_calibrator = calibrator
        config.set_calibration_profile(profile)
    log.info(
        "building %s (%s, batch %d-%d); this takes minutes",
        plan_path.name,
        spec.precision,
        spec.batch_min,
        spec.batch_max,
    )
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError(f"TensorRT could not build an engine from {onnx_path} (see the log above)")
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    partial = plan_path.with_name(plan_path.name + ".partial")
    partial.write_bytes(bytes(memoryview(serialized)))
    outputs = {}
    for i in range(network.num_outputs):
        out = network.get_output(i)
        outputs[out.name] = _dims(out.shape)
    sidecar = Sidecar(
        model_sha256=sha256_of(onnx_path),
        weights_sha256=weights_sha256,
        tensorrt_version=str(trt_mod.__version__),
        gpu_name=gpu_name,
        compute_capability=capability,
        precision=spec.precision,
        profile=shapes,
        inputs={inp.name: _dims(inp.shape)},
        outputs=outputs,
        **_onnx_metadata(onnx_path),
    )
    partial.replace(plan_path)
    write_sidecar(plan_path, sidecar)
    del calibrator
    return sidecar


def _onnx_metadata(onnx_path: Path) -> dict[str, Any]:
    """Class names, stride and mask count from the ONNX export, so the plan runs without it."""
    import onnxruntime as ort  # noqa: PLC0415

    from streamseg.inference.runtimes.base import names_from_metadata  # noqa: PLC0415

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    outputs = session.get_outputs()
    nm = int(outputs[1].shape[1])
    nc = int(outputs[0].shape[1]) - 4 - nm if isinstance(outputs[0].shape[1], int) else 0
    return {
        "names": list(names_from_metadata(meta.get("names"), nc)),
        "stride": int(meta.get("stride", 32)),
        "num_masks": nm,
    }


def make_calibrator(trt_mod: Any, folder: Path, spec: BuildSpec, plan: Path, device_index: int) -> Any:
    """An entropy calibrator over the images in ``folder``, letterboxed exactly as at run time."""
    import cv2  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    from streamseg.inference.yolo.letterbox import make_letterbox, to_tensor  # noqa: PLC0415

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"))
    if not files:
        raise ModelError(f"--calib-images {folder}: no .jpg/.png images found")
    h, w = spec.input_hw
    batch = spec.batch_opt
    cache = plan.with_name(plan.name + ".calib")
    device = torch.device("cuda", device_index)

    class FolderCalibrator(trt_mod.IInt8EntropyCalibrator2):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.position = 0
            self.buffer = torch.empty((batch, 3, h, w), dtype=torch.float32, device=device)

        def get_batch_size(self) -> int:
            return batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            if self.position >= len(files):
                return None
            host = np.empty((batch, 3, h, w), dtype=np.float32)
            for k in range(batch):
                path = files[(self.position + k) % len(files)]
                raw = cv2.imread(str(path))
                if raw is None:
                    raise ModelError(f"cannot read calibration image {path}")
                image = np.asarray(raw, dtype=np.uint8)
                lb = make_letterbox(image.shape[:2], max(h, w), 32, fixed_input_hw=(h, w))
                to_tensor(lb.apply(image), host[k])
            self.position += batch
            self.buffer.copy_(torch.from_numpy(host))
            return [int(self.buffer.data_ptr())]

        def read_calibration_cache(self) -> bytes | None:
            return cache.read_bytes() if cache.is_file() else None

        def write_calibration_cache(self, data: Any) -> None:
            cache.write_bytes(bytes(data))

    log.info("INT8 calibration on %d images from %s", len(files), folder)
    return FolderCalibrator()


def _dims(dims: trt.Dims) -> list[int]:
    """A TensorRT ``Dims`` (indexable, not iterable in the stubs) as a list."""
    return [int(dims[i]) for i in range(len(dims))]


def default_spec(imgsz: int, max_batch: int, stride: int = 32) -> BuildSpec:
    """What ``run`` builds when no plan exists: FP16, batch 1..max(16, --batch), 16:9 input (640x384)."""
    height = -(-round(imgsz * 9 / 16) // stride) * stride
    return BuildSpec("fp16", 1, max(16, max_batch), (height, imgsz))


class TensorRTBackend(InferenceBackend):
    name = "tensorrt"

    def __init__(
        self,
        model_path: Path,
        device: str = "cuda:0",
        engines_dir: Path = Path("engines"),
        imgsz: int = 640,
        max_batch: int = 16,
        rebuild: bool = False,
    ) -> None:
        """``model_path``: a ``.plan`` (with its sidecar), or an ``.onnx`` whose plan is found or built."""
        kind, index = parse_device(device)
        if kind != "cuda":
            raise BackendUnavailableError("the TensorRT backend runs on a GPU only: use --device cuda:N")
        trt_mod = import_tensorrt()
        import torch  # noqa: PLC0415

        from streamseg.inference.model_files import sha256_of  # noqa: PLC0415

        self._torch = torch
        self._device = torch.device("cuda", index)
        torch.cuda.set_device(index)
        if model_path.suffix.lower() == ".onnx":
            onnx_sha = sha256_of(model_path)
            plan, sidecar = self._plan_for(
                model_path, onnx_sha, engines_dir, imgsz, max_batch, index, rebuild, trt_mod
            )
        else:
            plan, sidecar = model_path, checked_sidecar(model_path, index, trt_mod)
        self.sidecar = sidecar
        runtime: trt.Runtime = trt_mod.Runtime(_logger(trt_mod))
        engine = runtime.deserialize_cuda_engine(plan.read_bytes())
        if engine is None:
            raise EngineMismatchError(
                f"TensorRT could not load {plan}; rebuild with streamseg build-engine --force"
            )
        self._runtime, self._engine = runtime, engine
        self._context: trt.IExecutionContext = engine.create_execution_context()
        self._stream = torch.cuda.Stream(self._device)  # type: ignore[no-untyped-call]
        self._bind(trt_mod)
        profile = sidecar.profile
        self._batch_min, self._batch_max = int(profile["min"][0]), int(profile["max"][0])
        hw = (int(profile["max"][2]), int(profile["max"][3]))
        self._hw = hw
        self._info = ModelInfo(
            names=tuple(sidecar.names),
            stride=sidecar.stride,
            num_masks=sidecar.num_masks,
            max_batch=self._batch_max,
            fixed_input_hw=hw,
        )
        version, gpu = trt_mod.__version__, sidecar.gpu_name
        log.info("TensorRT %s plan %s on %s (%s)", version, plan.name, gpu, sidecar.precision)

    @staticmethod
    def _plan_for(
        onnx: Path,
        onnx_sha: str,
        engines_dir: Path,
        imgsz: int,
        max_batch: int,
        index: int,
        rebuild: bool,
        trt_mod: Any,
    ) -> tuple[Path, Sidecar]:
        """A cached plan for ``onnx`` that suits this GPU and TensorRT, or a new one built now."""
        stem = onnx.stem
        for plan in [] if rebuild else find_plan(engines_dir, stem, onnx_sha):
            try:
                return plan, checked_sidecar(plan, index, trt_mod, onnx_sha)
            except EngineMismatchError as exc:
                log.info("skipping %s", exc)
        spec = default_spec(imgsz, max_batch)
        plan = engines_dir / plan_name(stem, onnx_sha, spec)
        return plan, build_engine(onnx, plan, spec, index)

    def _bind(self, trt_mod: Any) -> None:
        """Allocate I/O once at the profile's largest batch and remember names, dtypes and roles."""
        torch = self._torch
        engine = self._engine
        dtypes = {
            trt_mod.DataType.FLOAT: torch.float32,
            trt_mod.DataType.HALF: torch.float16,
            trt_mod.DataType.INT32: torch.int32,
            trt_mod.DataType.INT8: torch.int8,
        }
        self._input_name = ""
        outputs: list[str] = []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            if engine.get_tensor_mode(name) == trt_mod.TensorIOMode.INPUT:
                self._input_name = name
            else:
                outputs.append(name)
        profile_max = _dims(engine.get_tensor_profile_shape(self._input_name, 0)[2])
        self._input_dtype = dtypes[engine.get_tensor_dtype(self._input_name)]
        self._input = torch.empty(profile_max, dtype=self._input_dtype, device=self._device)
        self._context.set_input_shape(self._input_name, profile_max)
        self._outputs: dict[str, Any] = {}
        for name in outputs:
            shape = _dims(self._context.get_tensor_shape(name))
            self._outputs[name] = torch.empty(
                shape, dtype=dtypes[engine.get_tensor_dtype(name)], device=self._device
            )
        if len(self._outputs) != 2:
            raise ModelError(f"TensorRT plan has {len(self._outputs)} outputs, expected 2: not a -seg model")
        by_rank = sorted(self._outputs, key=lambda n: self._outputs[n].dim())
        self._head_name, self._protos_name = by_rank[0], by_rank[1]
        self._context.set_tensor_address(self._input_name, int(self._input.data_ptr()))
        for name, tensor in self._outputs.items():
            self._context.set_tensor_address(name, int(tensor.data_ptr()))

    # ------------------------------------------------------------------ InferenceBackend
    @property
    def info(self) -> ModelInfo:
        return self._info

    def infer(self, batch: FloatArray) -> tuple[FloatArray, FloatArray]:
        torch = self._torch
        n, _, h, w = batch.shape
        with torch.cuda.stream(self._stream):
            self.input_buffer(n, (h, w)).copy_(torch.from_numpy(batch), non_blocking=False)
            head, protos = self.run_input(n, (h, w))
            result = head.float().cpu().numpy(), protos.float().cpu().numpy()
        return as_float32(result[0]), as_float32(result[1])

    def device_path(self) -> TensorRTBackend:
        return self

    def close(self) -> None:
        self._context = None  # type: ignore[assignment]
        self._outputs = {}

    # ------------------------------------------------------------------ DeviceBackend
    @property
    def device(self) -> Any:
        return self._device

    @property
    def stream(self) -> Any:
        return self._stream

    def input_buffer(self, batch: int, input_hw: tuple[int, int]) -> Any:
        if input_hw != self._hw:
            raise ModelError(f"input {input_hw} differs from the plan's {self._hw}: rebuild with --imgsz")
        if batch > self._batch_max:
            raise ModelError(
                f"batch {batch} is outside the plan's profile {self._batch_min}-{self._batch_max}: "
                "rebuild with streamseg build-engine --batch MIN-MAX"
            )
        return self._input[:batch]

    def run_input(self, batch: int, input_hw: tuple[int, int]) -> tuple[Any, Any]:
        """Below the profile minimum the spare slots of the static input run along and are dropped."""
        run = max(batch, self._batch_min)
        self._context.set_input_shape(self._input_name, (run, 3, *input_hw))
        if not self._context.execute_async_v3(self._stream.cuda_stream):
            raise ModelError("TensorRT execution failed (see the log above)")
        return self._outputs[self._head_name][:batch], self._outputs[self._protos_name][:batch]


__all__ = ["TensorRTBackend", "build_engine", "default_spec", "import_tensorrt", "tensorrt_version"]
