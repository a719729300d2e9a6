"""Step two: the decode check's clip, its comparison, and what a failure says (on the CPU: surfaces on
the CPU device stand in for NVDEC's; NVDEC itself is checked in tests/gpu/on_device)."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
import torch

from streamseg.gpu.decode import DecodeTarget
from streamseg.pipeline.selfcheck import decode
from streamseg.pipeline.selfcheck.steps import NVDEC, Step

ON_CPU = DecodeTarget(torch.device("cpu"), nvdec=False)


def test_the_clip_is_made_here(tmp_path: Path) -> None:
    clip = decode.write_clip(tmp_path / "c.mp4")
    assert clip is not None
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = [vf.to_ndarray(format="bgr24") for vf in container.decode(stream)]
    assert len(frames) == decode.CLIP_FRAMES
    assert frames[0].shape == (decode.CLIP_WH[1], decode.CLIP_WH[0], 3)
    assert (frames[0] != frames[1]).any()  # the block moves


def test_device_frames_match_the_cpu_decoder(tmp_path: Path) -> None:
    clip = decode.write_clip(tmp_path / "c.mp4")
    assert clip is not None
    assert decode.decode_difference(clip, ON_CPU) <= decode.MAX_MEAN_DIFF
    assert decode.decode_step(ON_CPU) == Step(NVDEC, True)


def test_frames_that_differ_turn_nvdec_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode, "decode_difference", lambda clip, target: 7.25)
    step = decode.decode_step(ON_CPU)
    assert step == Step(NVDEC, False, "its frames differ from the CPU's (mean 7.2 levels > 2)")


def test_nvdec_that_is_missing_or_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    nvdec = DecodeTarget(torch.device("cuda", 0), nvdec=True)
    monkeypatch.setattr(decode, "nvdec_problem", lambda: "this FFmpeg (PyAV's) was built without CUDA")
    assert decode.decode_step(nvdec) == Step(NVDEC, False, "this FFmpeg (PyAV's) was built without CUDA")
    monkeypatch.setattr(decode, "nvdec_problem", lambda: None)
    monkeypatch.setattr(decode, "nvdec_refuses", lambda clip, index: "NVDEC does not decode plain H.264 here")
    assert not decode.decode_step(nvdec).ok

    def cuda_fails(clip: Path, index: int) -> str | None:
        raise torch.AcceleratorError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(decode, "nvdec_refuses", cuda_fails)
    step = decode.decode_step(nvdec)
    assert step == Step(
        NVDEC, False, "decoding failed: a GPU kernel crashed (an illegal memory access was encountered)"
    )


def test_without_libx264_it_is_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode, "write_clip", lambda path: None)
    step = decode.decode_step(ON_CPU)
    assert step.ok and not step.checked and "libx264" in step.why
