"""Decoding a camera's codec on one thread (streamseg's live default) vs FFmpeg's choice, and vs the peer.

    python -m tools.bench_decoder_threads                      # 1080p H.264 and 4K H.265
    python -m tools.bench_decoder_threads --case 3840x2160:libx265 --seconds 4 --rounds 5

For each case ffmpeg encodes a test pattern the way a camera would (``--fps``, a keyframe a second, no
B-frames), then the clip is decoded alternately by

* ``ours, 1 thread``: ``PyAVFileSource(threads=1)``, what ``--decoder-threads 1`` gives RTSP cameras,
* ``ours, FFmpeg's choice``: ``PyAVFileSource(threads=0)`` (frame and slice threads, as for files),
* ``peer``: ``cv2.VideoCapture``, which Ultralytics' stream loader reads cameras with.

It prints the median decoding rate of each (frames per second, BGR frames out, as the pipeline needs
them), the ratios, whether one thread keeps up with the camera, and the decoder's delay: how many
packets go in before the first frame comes out (frame threads hold one frame each, which is latency on
a live stream; on a file it costs nothing). Absolute rates depend on the machine; quote the ratios.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2

from streamseg.capture.pyav_file import PyAVFileSource
from tools.common import Arms, fmt, load_average

DEFAULT_CASES = ("1920x1080:libx264", "3840x2160:libx265")


def encode(path: Path, size: str, encoder: str, fps: int, seconds: float) -> None:
    """A camera-like clip: moving test pattern, a keyframe a second, no B-frames."""
    params = ["-x265-params", "log-level=error:bframes=0"] if encoder == "libx265" else ["-bf", "0"]
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}"]
    cmd += ["-t", str(seconds), "-c:v", encoder, "-preset", "ultrafast", "-g", str(fps), *params, str(path)]
    subprocess.run(cmd, check=True)


def ours(threads: int) -> Callable[[Path], int]:
    def decode(path: Path) -> int:
        src = PyAVFileSource(str(path), threads=threads)
        src.open()
        n = 0
        try:
            while src.read() is not None:
                n += 1
        finally:
            src.close()
        return n

    return decode


def peer(path: Path) -> int:
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    n = 0
    try:
        while cap.read()[0]:
            n += 1
    finally:
        cap.release()
    return n


def decoder_delay(path: Path, threads: int) -> int:
    """Packets sent before the first frame comes out, with PyAVFileSource's decoder settings."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        for sent, packet in enumerate(container.demux(stream), start=1):
            if stream.codec_context.decode(packet):
                return sent - 1
    return -1


def run_case(case: str, args: argparse.Namespace, tmp: Path) -> None:
    size, encoder = case.split(":")
    clip = tmp / f"{size}_{encoder}.mp4"
    started = time.perf_counter()
    encode(clip, size, encoder, args.fps, args.seconds)
    print(f"\n{size} {encoder}, {args.fps} fps camera, {args.seconds:g} s (encoded in", end=" ")
    print(f"{time.perf_counter() - started:.0f} s)", flush=True)
    sides: dict[str, Callable[[Path], int]] = {
        "ours, 1 thread": ours(1),
        "ours, FFmpeg's choice": ours(0),
        "peer (cv2.VideoCapture)": peer,
    }
    rates = Arms(*sides)
    for r in range(args.rounds):
        for name in rates.order(r):
            t0 = time.perf_counter()
            frames = sides[name](clip)
            rates.add(name, frames / (time.perf_counter() - t0))
    med = rates.medians()
    for name, fps in med.items():
        print(f"  {name:24s} {fps:7.1f} frames/s (median of {args.rounds})")
    one, auto, cv = med["ours, 1 thread"], med["ours, FFmpeg's choice"], med["peer (cv2.VideoCapture)"]
    print(f"  ratios: 1 thread / FFmpeg's choice {one / auto:.2f}, 1 thread / peer {one / cv:.2f},", end=" ")
    print(f"FFmpeg's choice / peer {auto / cv:.2f}")
    keeps_up = "keeps up with" if one >= args.fps else "does NOT keep up with"
    print(f"  one thread {keeps_up} a {args.fps} fps camera ({one / args.fps:.1f}x real time)")
    print(f"  decoder delay: {decoder_delay(clip, 1)} packet(s) with 1 thread,", end=" ")
    print(f"{decoder_delay(clip, 0)} with FFmpeg's choice on this {os.cpu_count()}-core machine")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--case", action="append", help="WxH:encoder (libx264, libx265); repeatable")
    parser.add_argument("--fps", type=int, default=25, help="the camera's frame rate (default 25)")
    parser.add_argument("--seconds", type=float, default=4.0, help="clip length (default 4)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.case or DEFAULT_CASES:
            run_case(case, args, Path(tmp))
    print(f"\nload average after: {fmt(load_average())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
