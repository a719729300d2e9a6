"""The self-check's one line: where decode, postprocess, overlay, graphs and the encoder run, and for
anything turned off, why, in a few words.

    GPU self-check (cuda:0 NVIDIA H100, 2.1 s): decode NVDEC, postprocess cuda:0, overlay cuda:0,
    CUDA graphs on, encoder x264 (no NVENC on this GPU)

Pure wording (each item from plain values), so every turned-off case is tested on the CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

from streamseg.pipeline.selfcheck.steps import Step

NVENC_CODEC = "h264_nvenc"


def compose(device: str, gpu_name: str, seconds: float | None, items: Sequence[str]) -> str:
    """``seconds``: what the checks took now; None: every answer came from the cache."""
    when = "cached" if seconds is None else f"{seconds:.1f} s"
    return f"GPU self-check ({device} {gpu_name}, {when}): {', '.join(items)}"


def no_gpu_line(why: str) -> str:
    return f"GPU self-check: no GPU here ({why}); nothing to check"


def decode_item(mode: str, nvdec: bool | None, step: Step | None, why_not: str = "") -> str:
    """``nvdec``: True NVDEC, False the CPU into device memory, None the CPU (``why_not`` says why);
    ``step``: the NVDEC check, when it ran (a failed one moved decoding to the CPU)."""
    if step is not None and not step.ok:
        return f"decode CPU (NVDEC {step.why})"
    if nvdec:
        return f"decode NVDEC ({step.why})" if step is not None and step.why else "decode NVDEC"
    if nvdec is False:
        return "decode CPU, frames uploaded"
    if mode == "cpu":
        return "decode CPU (--decode cpu)"
    return f"decode CPU ({why_not})" if why_not else "decode CPU"


def postprocess_item(device: str) -> str:
    return f"postprocess {device}"


def overlay_item(on_device: bool, device: str, live_view: bool) -> str:
    """``on_device``: the batch's graph draws (an output needs every frame); else only the frames of
    sources watched live are drawn, on the host, or none."""
    if on_device:
        return f"overlay {device}"
    if live_view:
        return "overlay host (only sources watched live)"
    return "overlay off (no output shows drawn frames)"


def graphs_item(mode: str, step: Step | None) -> str:
    """``mode``: ``--cuda-graphs``; ``step``: the graph check, when it ran."""
    if mode == "off":
        return "CUDA graphs off (--cuda-graphs off)"
    if step is not None and not step.ok:
        return f"CUDA graphs off ({step.why})"
    if step is not None and step.why:
        return f"CUDA graphs on ({step.why})"
    return "CUDA graphs on"


def encoder_item(codec: str | None, mode: str, nvenc_problem: str | None) -> str:
    """``codec``: what records (None: nothing is encoded); ``nvenc_problem``: why NVENC does not open."""
    if codec is None:
        return "encoder none (nothing recorded)"
    if codec == NVENC_CODEC:
        return "encoder NVENC"
    if mode == "x264":
        return "encoder x264 (--encoder x264)"
    if nvenc_problem is None:
        return "encoder x264"
    if "FFmpeg has no" in nvenc_problem:
        return "encoder x264 (this FFmpeg has no NVENC)"
    return "encoder x264 (no NVENC on this GPU)"
