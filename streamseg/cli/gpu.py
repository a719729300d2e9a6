"""``streamseg doctor`` and ``streamseg build-engine``: the GPU-side subcommands.

Kept out of ``cli.py`` so that module stays small; parsing here is pure Python (tested on CPU),
and TensorRT is imported only when a build actually starts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from streamseg.config import DEFAULT_MODEL

BUILD_EPILOG = """\
examples:
  streamseg build-engine --model yolov8n-seg.pt --fp16 --batch 1-16
  streamseg build-engine --model my-seg.pt --fp16 --imgsz 640x640           square input (4:3, portrait ...)
  streamseg build-engine --model my-seg.pt --int8 --calib-images frames/ --batch 1-8
  streamseg run cams.yaml --backend tensorrt --device cuda:0 --model engines/PLAN.plan

The plan is written to --engines-dir with a JSON sidecar (model sha256, TensorRT version, GPU and
compute capability, precision, profile, I/O shapes); loading refuses a plan from another GPU or
TensorRT version. --force rebuilds.
"""


def add_gpu_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = sub.add_parser(
        "doctor",
        help="show which runtimes and GPUs are usable here, and why not",
        description="Probe the NVIDIA driver (NVML), PyTorch and CUDA, TensorRT, ONNX Runtime providers, "
        "and say which backend --backend auto would pick; --deep also runs the GPU self-check.",
    )
    doctor.add_argument("--device", default="cuda:0", help="GPU to probe (default: cuda:0)")
    doctor.add_argument(
        "--deep",
        action="store_true",
        help="also run the GPU self-check afresh (a test kernel, NVDEC against CPU decode, CUDA graphs "
        "against eager) and print the one line a run on this GPU starts with",
    )
    doctor.add_argument(
        "-m", "--model", default=DEFAULT_MODEL, metavar="PATH", help="-seg .pt for --deep's graph check"
    )
    doctor.add_argument(
        "--engines-dir", default="engines", metavar="DIR", help="model cache folder (default: engines)"
    )
    doctor.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    doctor.add_argument("-v", "--verbose", action="store_true", help="log what happens")

    build = sub.add_parser(
        "build-engine",
        help="build a TensorRT plan (FP16/INT8) for this GPU into the engines folder",
        description="Export the model to ONNX (cached), then build a TensorRT plan with one optimization "
        "profile over the batch range at a fixed input size.",
        epilog=BUILD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument("-m", "--model", default=DEFAULT_MODEL, metavar="PATH", help="-seg .pt or .onnx")
    precision = build.add_mutually_exclusive_group()
    precision.add_argument("--fp16", action="store_true", help="FP16 kernels (the default)")
    precision.add_argument("--fp32", action="store_true", help="FP32 only (slow; for accuracy checks)")
    precision.add_argument(
        "--int8", action="store_true", help="INT8 with FP16 fallback; needs --calib-images"
    )
    build.add_argument("--calib-images", metavar="DIR", help="folder of representative frames for INT8")
    build.add_argument("--batch", default="1-16", metavar="MIN-MAX", help="batch range (default: 1-16)")
    build.add_argument(
        "--imgsz",
        default="640x384",
        metavar="WxH",
        help="network input WIDTHxHEIGHT (default: 640x384, 720p)",
    )
    build.add_argument("--device", default="cuda:0", help="GPU to build for (default: cuda:0)")
    build.add_argument(
        "--engines-dir", default="engines", metavar="DIR", help="output folder (default: engines)"
    )
    build.add_argument("--force", action="store_true", help="rebuild even if a valid plan exists")
    build.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    build.add_argument("-v", "--verbose", action="store_true", help="log what happens")


def cmd_doctor(args: argparse.Namespace) -> int:
    from streamseg.config import Config, ModelConfig, OutputConfig  # noqa: PLC0415
    from streamseg.config.devices import parse_device  # noqa: PLC0415
    from streamseg.inference.runtimes.select import choose_backend  # noqa: PLC0415
    from streamseg.pipeline.plan import doctor, plan_run  # noqa: PLC0415

    _, index = parse_device(args.device)
    checks = doctor(index)
    width = max(len(c.name) for c in checks)
    for check in checks:
        mark = "ok " if check.ok else "no "
        print(f"{mark} {check.name.ljust(width)}  {check.detail}")
    backend, device, why = choose_backend("auto", args.device, warn=False)
    print(f"--backend auto --device {args.device}: {backend} on {device} ({why})")
    model = f"yolov8n-seg{'.pt' if backend in ('torch', 'tensorrt') else '.onnx'}"
    config = Config(model=ModelConfig(path=model, device=args.device), output=OutputConfig(record="out.mp4"))
    print(f"a recorded run of {model} with --device {args.device} would work like this:")
    for line in plan_run(config).lines(config.pipeline.decode):
        print(f"    {line}")
    if args.deep:
        from streamseg.pipeline.selfcheck import deep  # noqa: PLC0415

        report = deep(args.device, args.model, args.engines_dir)
        for step in report.steps.values():
            print(f"{'ok ' if step.ok else 'no '} {step.title.ljust(width)}  {step.why or 'passed'}")
        print(report.line)
    return 0


def cmd_build_engine(args: argparse.Namespace) -> int:
    from streamseg.config.devices import parse_device  # noqa: PLC0415
    from streamseg.inference.model_files import resolve_model, sha256_of  # noqa: PLC0415
    from streamseg.inference.runtimes.tensorrt.plan import (  # noqa: PLC0415
        EngineMismatchError,
        build_spec,
        plan_name,
    )

    spec = build_spec(
        fp16=not args.fp32, int8=args.int8, calib_images=args.calib_images, batch=args.batch, imgsz=args.imgsz
    )
    kind, index = parse_device(args.device)
    if kind != "cuda":
        from streamseg.errors import ConfigError  # noqa: PLC0415

        raise ConfigError("build-engine needs a GPU: --device cuda:N")
    from streamseg.inference.runtimes.tensorrt.build import build_engine  # noqa: PLC0415
    from streamseg.inference.runtimes.tensorrt.library import checked_sidecar, import_tensorrt  # noqa: PLC0415

    trt = import_tensorrt()  # fail before a slow export when TensorRT is missing
    engines = Path(args.engines_dir)
    weights = Path(args.model)
    onnx = resolve_model(args.model, engines)
    onnx_sha = sha256_of(onnx)
    plan = engines / plan_name(onnx.stem, onnx_sha, spec)
    if plan.is_file() and not args.force:
        try:
            checked_sidecar(plan, index, trt, onnx_sha)
            print(plan)
            return 0
        except EngineMismatchError as exc:
            print(f"streamseg: {exc}: rebuilding")
    weights_sha = sha256_of(weights) if weights.suffix.lower() == ".pt" and weights.is_file() else None
    build_engine(onnx, plan, spec, index, weights_sha)
    print(plan)
    return 0
