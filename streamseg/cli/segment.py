"""``streamseg segment``: SAM on one picture (an image, or one frame of a video) with prompts given on the
command line; prints one line per object and writes the overlay and/or the results line."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamseg.types import Frame, SegResult

SEGMENT_EPILOG = """\
examples:
  streamseg segment bus.jpg --model sam_b.pt --points 500,375
                                        the object under that point (label 1: on the object)
  streamseg segment bus.jpg --model mobile_sam.pt --points '500,375;620,380:0' --points 100,600
                                        two objects: the first with a point on it and one off it (:0)
  streamseg segment bus.jpg --model sam2_t.pt --boxes '40,230,250,900;670,380,810,880' --out overlay.png
  streamseg segment street.mp4 --frame 120 --model sam_vit_b_01ec64.pth --points 640,360 --save-results r.json

checkpoints: Ultralytics' sam_b.pt, sam_l.pt, sam_h.pt, mobile_sam.pt, sam2_t.pt ... sam2.1_l.pt, or Meta's
sam_vit_b_01ec64.pth, sam_vit_l_0b3195.pth, sam_vit_h_4b8939.pth: those names are downloaded on first use
(into --engines-dir); offline, pass a checkpoint file you have with --model PATH.
Coordinates are pixels of the picture, x to the right, y down.
"""


def add_segment_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    seg = sub.add_parser(
        "segment",
        help="segment what you point at in one picture with SAM (points or boxes)",
        description="Segment Anything on one image or one video frame: each --points and each box of "
        "--boxes is one object; prints each object's box, area and SAM's score.",
        epilog=SEGMENT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    seg.add_argument("input", metavar="INPUT", help="image file, or a video with --frame")
    seg.add_argument("-m", "--model", required=True, metavar="SAM_CHECKPOINT", help="SAM checkpoint")
    seg.add_argument(
        "--points",
        action="append",
        default=[],
        metavar="X,Y[:LABEL];...",
        help="one object: its points, label 1 on it (default) or 0 off it; repeat for more objects",
    )
    seg.add_argument("--boxes", metavar="X1,Y1,X2,Y2;...", help="one object per box")
    seg.add_argument("--frame", type=int, default=0, metavar="N", help="frame of a video (default: 0)")
    seg.add_argument("--out", metavar="OVERLAY.png", help="write the picture with the masks drawn")
    seg.add_argument("--save-results", metavar="FILE.jsonl", help="write the objects as one JSON line")
    seg.add_argument("--device", default="cpu", help="cpu or cuda:N (default: cpu; FP16 on a GPU)")
    seg.add_argument(
        "--engines-dir", default="engines", metavar="DIR", help="download cache (default: engines)"
    )
    seg.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    seg.add_argument("-v", "--verbose", action="store_true", help="log what happens")


def cmd_segment(args: argparse.Namespace) -> int:
    from streamseg.errors import ConfigError  # noqa: PLC0415
    from streamseg.inference.sam import SamPredictor, parse_boxes, parse_points  # noqa: PLC0415
    from streamseg.inference.sam.prompts import check_prompts  # noqa: PLC0415
    from streamseg.inference.sam.results import prompt_result  # noqa: PLC0415

    prompts = [parse_points(p) for p in args.points] + (parse_boxes(args.boxes) if args.boxes else [])
    if not prompts:
        raise ConfigError("segment needs prompts: --points X,Y[:LABEL];... or --boxes X1,Y1,X2,Y2;...")
    if args.frame < 0:
        raise ConfigError(f"--frame must be >= 0, got {args.frame}")
    frame = _read_frame(args.input, args.frame)
    height, width = frame.image.shape[:2]
    check_prompts(prompts, width, height)
    predictor = SamPredictor.from_checkpoint(args.model, Path(args.engines_dir), args.device)
    started = time.perf_counter()
    out = predictor.segment(frame.image, prompts)
    logging.getLogger("streamseg").info("SAM took %.2f s", time.perf_counter() - started)
    result = prompt_result(frame, out)
    for i in range(len(result)):
        x1, y1, x2, y2 = (round(float(v)) for v in result.xyxy[i])
        area = int(result.masks.crops[i].sum())
        print(f"object {i}: box {x1},{y1},{x2},{y2}  area {area} px  score {float(result.score[i]):.3f}")
    if args.save_results:
        from streamseg.export import ResultsWriter  # noqa: PLC0415

        with ResultsWriter(args.save_results) as writer:
            writer.write(result)
    if args.out:
        _write_overlay(result, Path(args.out))
    return 0


def _read_frame(uri: str, index: int) -> Frame:
    """Frame ``index`` of a video (decoded up to it), or the picture itself."""
    from streamseg.capture import ImageSource, open_source  # noqa: PLC0415
    from streamseg.config import SourceConfig  # noqa: PLC0415
    from streamseg.errors import ConfigError  # noqa: PLC0415

    source = open_source(SourceConfig(uri))
    with source:
        if isinstance(source, ImageSource) and (source.frame_count or 0) > 1:
            raise ConfigError(f"segment takes one picture; {uri} holds {source.frame_count}")
        if source.is_live:
            raise ConfigError(f"segment takes an image or a video file, not a live source: {uri}")
        while (frame := source.read()) is not None:
            if frame.index >= index:
                return frame
    raise ConfigError(f"--frame {index}: {uri} has only {source.stats.frames_decoded} frame(s)")


def _write_overlay(result: SegResult, path: Path) -> None:
    import cv2  # noqa: PLC0415

    from streamseg.config import RenderConfig  # noqa: PLC0415
    from streamseg.errors import OutputError  # noqa: PLC0415
    from streamseg.render import FrameAnnotator  # noqa: PLC0415

    image = FrameAnnotator(RenderConfig(hud=False), copy=True).annotate(result, None, None)
    try:
        ok = cv2.imwrite(str(path), image)
    except cv2.error as exc:
        raise OutputError(f"cannot write {path}: {exc}") from None
    if not ok:
        raise OutputError(f"cannot write {path} (unknown image type or folder missing?)")
    print(f"streamseg: wrote {path}", file=sys.stderr)
