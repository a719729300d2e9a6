"""``streamseg`` command line. Heavy imports happen inside each subcommand, so ``--help`` is instant."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from streamseg import __version__
from streamseg.cli.api_flags import add_api_arguments, api_overrides
from streamseg.cli.detect_flags import add_detect_arguments, detect_overrides
from streamseg.cli.failures import report_error
from streamseg.cli.gpu_flags import add_gpu_arguments, gpu_overrides
from streamseg.cli.output_flags import add_output_arguments, output_overrides
from streamseg.cli.privacy_flags import add_privacy_arguments, privacy_overrides
from streamseg.cli.scene_flags import add_scene_arguments, clip_overrides, scene_overrides
from streamseg.config import (
    BACKENDS,
    DECODE_CHOICES,
    DEFAULT_MODEL,
    ENCODER_CHOICES,
    Config,
    load_yaml,
    merge,
    source_from,
)
from streamseg.errors import ConfigError
from streamseg.redact import RedactingFormatter

logger = logging.getLogger("streamseg")

RUN_EPILOG = """\
examples:
  streamseg run                                   segment the built-in demo clip
  streamseg run street.mp4 --record annotated.mp4 record the annotated video (H.264 mp4)
  streamseg run a.mp4 b.mp4 --record out.mp4      one file per source: out_a.mp4, out_b.mp4
  streamseg run 0                                 webcam 0 (or /dev/video0)
  streamseg run rtsp://user:pw@cam1/front rtsp://cam2/back --record out.mp4
                                                  two cameras, reconnecting: out_front.mp4, out_back.mp4
  streamseg run street.mp4 --save-results r.jsonl one JSON line per frame, masks as COCO RLE
  streamseg run bus.jpg photos/ 'shots/*.png' --save-images out/ --save-results r.jsonl
                                                  still images: one frame each, annotated copies in out/
  streamseg run street.mp4 --model my-seg.onnx    an .onnx, or an Ultralytics -seg .pt (exported once)
  streamseg run street.mp4 --refine mobile_sam.pt detections become SAM box prompts; SAM's masks replace
                                                  the detector's (stage "refine" in the telemetry)
  streamseg run street.mp4 --model torchvision:maskrcnn_resnet50_fpn_v2
                                                  torchvision's Mask R-CNN (weights downloaded, exported once)
  streamseg run cam.mp4 --dashboard --sam mobile_sam.pt
                                                  click the live picture to segment what is there
  streamseg run --config configs/default.yaml     every setting from a YAML file; flags override it
  streamseg run street.mp4 --loop --dashboard     live page, /metrics, /healthz at http://127.0.0.1:8080/
  streamseg run --config cams.yaml --latency-budget 300
                                                  more cameras than the box can serve: stride them
                                                  fairly, then shrink the input, to hold 300 ms (p95)
  streamseg run a.mp4 b.mp4 --device cuda:0 --backend torch -o out.mp4
                                                  on a GPU: NVDEC decode, masks drawn on the GPU,
                                                  one encoder thread per camera

offline: the default model (yolov8n-seg.pt) is downloaded on first use; without internet pass a
local file with --model PATH (.pt or .onnx).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamseg",
        description="Real-time instance segmentation of video files and cameras with YOLOv8-seg models.",
    )
    parser.add_argument("--version", action="version", version=f"streamseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="segment video sources, draw masks, record and export",
        description="Segment every frame of the given sources, draw masks, boxes and labels, and optionally "
        "record the annotated video and export results. With no source, runs on a demo clip built from the "
        "sample images that ship with Ultralytics.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "sources",
        nargs="*",
        metavar="SOURCE",
        help="video file or URL, image, folder or quoted glob of images, webcam index or /dev/videoN",
    )
    run.add_argument("-c", "--config", metavar="YAML", help="config file (see configs/default.yaml)")
    model = run.add_argument_group("model")
    model.add_argument(
        "-m",
        "--model",
        metavar="PATH",
        help=f"-seg .pt or .onnx, a Mask R-CNN .onnx, or torchvision:NAME (default: {DEFAULT_MODEL})",
    )
    imgsz_default = "the checkpoint's own size, as Ultralytics; else 640"
    model.add_argument("--imgsz", type=int, help=f"network input, longest side (default: {imgsz_default})")
    conf_default = "0.25, 0.1 for tracked sources (as Ultralytics' track)"
    model.add_argument("--conf", type=float, help=f"confidence threshold 0..1 (default: {conf_default})")
    model.add_argument("--iou", type=float, help="NMS IoU threshold 0..1 (default: 0.7)")
    model.add_argument("--max-det", type=int, help="most instances per frame (default: 300)")
    model.add_argument("--batch", type=int, help="most frames per inference call (default: 4)")
    model.add_argument("--batch-timeout-ms", type=float, help="longest wait to fill a batch (default: 5)")
    model.add_argument(
        "--backend",
        choices=BACKENDS,
        help="inference runtime; auto: ONNX Runtime on the CPU, on a GPU TensorRT > PyTorch CUDA > "
        "ONNX Runtime (default: auto)",
    )
    model.add_argument("--device", help="cpu or cuda:N (default: cpu)")
    model.add_argument(
        "--decode",
        choices=DECODE_CHOICES,
        help="where video is decoded: gpu (NVDEC, frames stay on the GPU), cpu, or auto: gpu when the "
        "model runs on CUDA with the torch or tensorrt backend (default: auto)",
    )
    add_gpu_arguments(model)
    model.add_argument("--threads", type=int, help="CPU threads for inference (default: all cores)")
    model.add_argument("--engines-dir", metavar="DIR", help="cache for exported models (default: ./engines)")
    model.add_argument(
        "--refine",
        metavar="SAM_CHECKPOINT",
        help="SAM remakes each detection's mask from its box (e.g. mobile_sam.pt, sam_b.pt, a file)",
    )
    model.add_argument(
        "--sam", metavar="SAM_CHECKPOINT", help="SAM for dashboard clicks only (--refine also enables clicks)"
    )
    out = run.add_argument_group("outputs")
    out.add_argument("-o", "--record", metavar="OUT.mp4", help="record the annotated video (H.264)")
    out.add_argument(
        "--save-results", metavar="FILE.jsonl", help="write one JSON line of instances per frame"
    )
    out.add_argument(
        "--save-images", metavar="DIR", help="write annotated copies of still-image sources into DIR"
    )
    out.add_argument("--telemetry", metavar="FILE.jsonl", help="write a telemetry snapshot every second")
    out.add_argument("--crf", type=int, help="H.264 quality, 0 (lossless) to 51 (default: 23)")
    out.add_argument(
        "--encoder",
        choices=ENCODER_CHOICES,
        help="H.264 encoder for recordings: x264 (CPU), nvenc (NVIDIA), or auto: NVENC when the model "
        "is on a GPU that has one, else x264 (default: auto)",
    )
    draw = run.add_argument_group("drawing")
    draw.add_argument("--no-masks", action="store_true", help="do not draw masks")
    draw.add_argument("--no-boxes", action="store_true", help="do not draw boxes")
    draw.add_argument("--no-labels", action="store_true", help="do not draw labels")
    draw.add_argument("--no-hud", action="store_true", help="do not draw the FPS/latency overlay")
    live = run.add_argument_group("cameras and streams (rtsp://, http(s)://, webcams)")
    live.add_argument(
        "--rtsp-transport", choices=("tcp", "udp"), help="RTSP transport (default: tcp, survives NAT/loss)"
    )
    live.add_argument(
        "--source-timeout",
        type=float,
        metavar="S",
        help="silence before a stream is reconnected (default: 5)",
    )
    live.add_argument(
        "--max-retries",
        type=int,
        metavar="N",
        help="give up after N failed reconnects (default: -1, forever)",
    )
    live.add_argument(
        "--live-buffer", type=int, metavar="N", help="newest frames kept per live source (default: 1)"
    )
    live.add_argument(
        "--decoder-threads",
        type=int,
        metavar="N",
        help="decoding threads per RTSP stream (default: 1, no added delay; 0: FFmpeg's choice, for 4K)",
    )
    live.add_argument(
        "--latency-budget",
        type=float,
        metavar="MS",
        help="keep the p95 frame age of live sources under MS: when inference falls behind, process every "
        "camera every k-th frame (low-priority cameras first), then a smaller network input, one step at a "
        "time, and climb back when there is room (default: off; files are never degraded)",
    )
    live.add_argument(
        "--max-sources",
        type=int,
        metavar="N",
        help="most sources at once, also those added while running (default: 8 per CPU core, 16 to 64)",
    )
    live.add_argument(
        "--allow-listen",
        action="store_true",
        help="let sources bind a port and wait for a pushed stream (listen=1, udp://@:PORT, SRT "
        "listener); off by default: sources connect to cameras",
    )
    live.add_argument(
        "--segment", metavar="DURATION", help="start a new recording file every DURATION (e.g. 10m, 30s, 1h)"
    )
    add_output_arguments(live)
    web = run.add_argument_group("dashboard and metrics")
    web.add_argument(
        "--dashboard",
        nargs="?",
        const="127.0.0.1:8080",
        metavar="[HOST:]PORT",
        help="serve a live page, Prometheus /metrics, /healthz and /readyz (default: 127.0.0.1:8080)",
    )
    web.add_argument(
        "--dashboard-token",
        metavar="TOKEN",
        help="required off loopback; prefer the STREAMSEG_DASHBOARD_TOKEN variable (not shown in ps)",
    )
    web.add_argument(
        "--dashboard-host",
        action="append",
        metavar="NAME",
        help="a host name the dashboard is reached by (a reverse proxy's, a DNS name), besides loopback and "
        "the address it listens on; repeat for more. Other names are refused (DNS rebinding)",
    )
    add_api_arguments(web)
    web.add_argument(
        "--loop", action="store_true", help="play file sources again from the start when they end"
    )
    add_scene_arguments(run)
    add_privacy_arguments(run)
    add_detect_arguments(run)
    ui = run.add_argument_group("console")
    ui.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary table")
    ui.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    ui.add_argument("--debug", action="store_true", help="show tracebacks on errors")

    export = sub.add_parser(
        "export",
        help="export an Ultralytics -seg .pt to ONNX into the engines cache",
        description="Export once ahead of time (run does this on demand); prints the ONNX path.",
    )
    export.add_argument("-m", "--model", default=DEFAULT_MODEL, metavar="PATH", help="-seg .pt weights")
    export.add_argument(
        "--engines-dir", default="engines", metavar="DIR", help="cache folder (default: engines)"
    )
    export.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    export.add_argument("-v", "--verbose", action="store_true", help="log what happens")

    from streamseg.cli.gpu import add_gpu_commands  # noqa: PLC0415 - doctor, build-engine

    add_gpu_commands(sub)
    from streamseg.cli.cluster import add_cluster_commands  # noqa: PLC0415 - cluster up/status/...

    add_cluster_commands(sub)
    from streamseg.cli.segment import add_segment_command  # noqa: PLC0415 - segment (SAM prompts)

    add_segment_command(sub)
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    cfg = load_yaml(args.config) if args.config else Config()
    if args.sources:
        sources = tuple(source_from(s, f"source {i + 1}") for i, s in enumerate(args.sources))
        cfg = dataclasses.replace(cfg, sources=sources)
    model_gpu, pipeline_gpu = gpu_overrides(args)
    return merge(
        cfg,
        model={
            **model_gpu,
            "path": args.model,
            "imgsz": args.imgsz,
            "conf": args.conf,
            "iou": args.iou,
            "max_det": args.max_det,
            "batch": args.batch,
            "batch_timeout_ms": args.batch_timeout_ms,
            "backend": args.backend,
            "device": args.device,
            "threads": args.threads,
            "engines_dir": args.engines_dir,
        },
        output={
            "record": args.record,
            "save_results": args.save_results,
            "save_images": args.save_images,
            "telemetry": args.telemetry,
            "crf": args.crf,
            "segment": args.segment,
            **output_overrides(args),
            "encoder": args.encoder,
            **clip_overrides(args),
        },
        pipeline={
            "source_timeout_s": args.source_timeout,
            "loop": True if args.loop else None,
            "decode": args.decode,
            **pipeline_gpu,
        },
        dashboard={
            "listen": args.dashboard,
            "token": args.dashboard_token,
            "allowed_hosts": tuple(args.dashboard_host) if args.dashboard_host else None,
        },
        api=api_overrides(args),
        source_rules={"max": args.max_sources, "allow_listen": True if args.allow_listen else None},
        sam=sam_overrides(args.refine, args.sam),
        live={
            "rtsp_transport": args.rtsp_transport,
            "max_retries": args.max_retries,
            "buffer": args.live_buffer,
            "decoder_threads": args.decoder_threads,
        },
        latency={"budget_ms": args.latency_budget},
        render={
            "masks": False if args.no_masks else None,
            "boxes": False if args.no_boxes else None,
            "labels": False if args.no_labels else None,
            "hud": False if args.no_hud else None,
        },
        **scene_overrides(args),
        privacy=privacy_overrides(args),
        detect=detect_overrides(args, cfg.detect),
    )


def sam_overrides(refine: str | None, sam: str | None) -> dict[str, Any]:
    """``--refine X`` loads SAM X and refines; ``--sam X`` loads it for dashboard clicks only."""
    if refine and sam and refine != sam:
        raise ConfigError(f"--refine {refine} and --sam {sam} name two SAM models: give one")
    return {"model": refine or sam, "refine": True if refine else None}


def cmd_run(args: argparse.Namespace) -> int:
    from streamseg.cli.run import run_pipeline  # noqa: PLC0415 - heavy imports only when running

    return run_pipeline(config_from_args(args), quiet=args.quiet)


def cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path  # noqa: PLC0415

    from streamseg.inference.model_files import resolve_model  # noqa: PLC0415

    print(resolve_model(args.model, Path(args.engines_dir)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:  # whatever a library logs, secrets in URLs are masked
        handler.setFormatter(RedactingFormatter(handler.formatter))
    from streamseg.cli.cluster import cmd_cluster  # noqa: PLC0415
    from streamseg.cli.gpu import cmd_build_engine, cmd_doctor  # noqa: PLC0415
    from streamseg.cli.segment import cmd_segment  # noqa: PLC0415

    handlers: dict[str, Any] = {
        "run": cmd_run,
        "export": cmd_export,
        "doctor": cmd_doctor,
        "build-engine": cmd_build_engine,
        "cluster": cmd_cluster,
        "segment": cmd_segment,
    }
    try:
        return int(handlers[args.command](args))
    except KeyboardInterrupt:
        print("streamseg: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        return report_error(exc)  # one line: ours, a GPU failure with its way round, or internal


def entry() -> None:
    """The ``streamseg`` command: ``main()``, then an exit that a thread left in FFmpeg cannot crash."""
    code = main()
    left_behind = sys.modules.get("streamseg.pipeline.left_behind")  # loaded only if a pipeline ran
    if left_behind is not None and left_behind.still_waiting():
        # A capture thread still inside a network open or read re-enters Python (PyAV's interrupt
        # callback takes the GIL) and crashes interpreter shutdown. Outputs are finalized by now, so
        # leave without the shutdown: flush what would be flushed, then exit with the same code.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
