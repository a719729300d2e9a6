"""The self-check's line: its form, and the few words for each thing turned off."""

from __future__ import annotations

from streamseg.pipeline.selfcheck import line
from streamseg.pipeline.selfcheck.steps import GRAPHS, NVDEC, Step


def test_the_line_names_every_part_of_the_run() -> None:
    items = [
        line.decode_item("auto", True, Step(NVDEC, True)),
        line.postprocess_item("cuda:0"),
        line.overlay_item(True, "cuda:0", live_view=False),
        line.graphs_item("auto", Step(GRAPHS, True)),
        line.encoder_item(
            "libx264", "auto", "Operation not permitted: no NVIDIA driver, or a GPU without NVENC"
        ),
    ]
    assert line.compose("cuda:0", "NVIDIA H100", 2.13, items) == (
        "GPU self-check (cuda:0 NVIDIA H100, 2.1 s): decode NVDEC, postprocess cuda:0, overlay cuda:0, "
        "CUDA graphs on, encoder x264 (no NVENC on this GPU)"
    )
    assert line.compose("cuda:1", "NVIDIA L4", None, ["decode NVDEC"]) == (
        "GPU self-check (cuda:1 NVIDIA L4, cached): decode NVDEC"
    )


def test_decode_wording() -> None:
    failed = Step(NVDEC, False, "its frames differ from the CPU's (mean 7.3 levels > 2)")
    assert line.decode_item("auto", None, failed) == (
        "decode CPU (NVDEC its frames differ from the CPU's (mean 7.3 levels > 2))"
    )
    assert line.decode_item(
        "auto", None, Step(NVDEC, False, "this FFmpeg (PyAV's) was built without CUDA")
    ) == ("decode CPU (NVDEC this FFmpeg (PyAV's) was built without CUDA)")
    assert line.decode_item("cpu", None, None) == "decode CPU (--decode cpu)"
    assert line.decode_item("auto", None, None, "this FFmpeg (PyAV's) was built without CUDA") == (
        "decode CPU (this FFmpeg (PyAV's) was built without CUDA)"
    )
    assert line.decode_item("auto", False, None) == "decode CPU, frames uploaded"
    unchecked = Step.unchecked(NVDEC, "this FFmpeg has no libx264 to make a test clip")
    assert line.decode_item("auto", True, unchecked) == (
        "decode NVDEC (not checked: this FFmpeg has no libx264 to make a test clip)"
    )


def test_overlay_wording() -> None:
    assert line.overlay_item(True, "cuda:0", live_view=True) == "overlay cuda:0"
    assert line.overlay_item(False, "cuda:0", live_view=True) == "overlay host (only sources watched live)"
    assert line.overlay_item(False, "cuda:0", live_view=False) == "overlay off (no output shows drawn frames)"


def test_graphs_wording() -> None:
    assert line.graphs_item("off", None) == "CUDA graphs off (--cuda-graphs off)"
    failed = Step(
        GRAPHS, False, "a batch of 3 after the other bucket was captured replays unlike eager: frame 1"
    )
    assert line.graphs_item("auto", failed) == (
        "CUDA graphs off (a batch of 3 after the other bucket was captured replays unlike eager: frame 1)"
    )
    assert (
        line.graphs_item("auto", Step.unchecked(GRAPHS, "tensorrt"))
        == "CUDA graphs on (not checked: tensorrt)"
    )
    assert line.graphs_item("on", None) == "CUDA graphs on"


def test_encoder_wording() -> None:
    assert line.encoder_item(None, "auto", None) == "encoder none (nothing recorded)"
    assert line.encoder_item("h264_nvenc", "auto", None) == "encoder NVENC"
    assert line.encoder_item("libx264", "x264", None) == "encoder x264 (--encoder x264)"
    assert line.encoder_item("libx264", "auto", "this FFmpeg has no h264_nvenc (x)") == (
        "encoder x264 (this FFmpeg has no NVENC)"
    )
    assert line.encoder_item("libx264", "auto", None) == "encoder x264"


def test_no_gpu() -> None:
    assert line.no_gpu_line("no CUDA device visible (driver missing or no GPU)") == (
        "GPU self-check: no GPU here (no CUDA device visible (driver missing or no GPU)); nothing to check"
    )
