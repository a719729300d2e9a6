"""Building a TensorRT plan from the ONNX export: one optimization profile over the batch range at a fixed
input size, FP16 (or INT8, calibrated on the user's images), and a JSON sidecar (``plan``) naming the
GPU, the TensorRT version and the model it came from."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamseg.errors import ModelError
from streamseg.inference.runtimes.tensorrt.calibrator import make_calibrator
from streamseg.inference.runtimes.tensorrt.library import gpu_identity, import_tensorrt, trt_logger
from streamseg.inference.runtimes.tensorrt.plan import BuildSpec, Sidecar, write_sidecar

if TYPE_CHECKING:
    import tensorrt as trt

logger = logging.getLogger(__name__)

WORKSPACE_BYTES = 4 << 30


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
    trt_log = trt_logger(trt_mod)
    builder: trt.Builder = trt_mod.Builder(trt_log)
    network: trt.INetworkDefinition = builder.create_network(0)  # explicit batch is the only mode in 10.x
    parser: trt.OnnxParser = trt_mod.OnnxParser(network, trt_log)
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
    logger.info(
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
        outputs[out.name] = dims_list(out.shape)
    sidecar = Sidecar(
        model_sha256=sha256_of(onnx_path),
        weights_sha256=weights_sha256,
        tensorrt_version=str(trt_mod.__version__),
        gpu_name=gpu_name,
        compute_capability=capability,
        precision=spec.precision,
        profile=shapes,
        inputs={inp.name: dims_list(inp.shape)},
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


def dims_list(dims: trt.Dims) -> list[int]:
    """A TensorRT ``Dims`` (indexable, not iterable in the stubs) as a list."""
    return [int(dims[i]) for i in range(len(dims))]


def default_spec(imgsz: int, max_batch: int, stride: int = 32) -> BuildSpec:
    """What ``run`` builds when no plan exists: FP16, batch 1..max(16, --batch), 16:9 input (640x384)."""
    height = -(-round(imgsz * 9 / 16) // stride) * stride
    return BuildSpec("fp16", 1, max(16, max_batch), (height, imgsz))
