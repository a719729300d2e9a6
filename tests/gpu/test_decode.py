"""Decoding into device surfaces (``--decode gpu``), on CPU torch: same frames, same timestamps, and
NVDEC refusing a stream (as it does on this machine, which has no driver) costs nothing but a log line."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from streamseg.capture import PyAVFileSource
from streamseg.errors import ConfigError
from streamseg.gpu.decode import DecodeTarget, plan_decode
from tests.capture.media import DANCE, OFFICE_VFR, clip, write_irregular_video
from tests.capture.test_file_rotation import _ROTATE_CW_MATRIX, with_display_matrix

CPU = torch.device("cpu")


def _read_all(src: PyAVFileSource, keep: int = 3) -> tuple[list[float], list[np.ndarray], list[bool]]:
    pts, images, on_device = [], [], []
    with src:
        while (frame := src.read()) is not None:
            on_device.append(frame.on_device)
            pts.append(frame.pts)
            if len(images) < keep:
                images.append(frame.image)
    return pts, images, on_device


@pytest.mark.parametrize("name", [DANCE, OFFICE_VFR])
def test_surface_frames_equal_host_frames(name: str) -> None:
    """Every frame arrives, with the stream's own timestamps, as a surface; its picture (made on
    demand) is exactly what CPU decoding gives."""
    want_pts, want_images, _ = _read_all(PyAVFileSource(str(clip(name))))
    pts, images, on_device = _read_all(PyAVFileSource(str(clip(name)), decode=DecodeTarget(CPU, nvdec=False)))
    assert pts == want_pts
    assert all(on_device)
    for a, b in zip(images, want_images, strict=True):
        np.testing.assert_array_equal(a, b)


def test_nvdec_refused_falls_back_to_the_cpu_with_one_line(caplog: pytest.LogCaptureFixture) -> None:
    """No NVIDIA driver here: opening with NVDEC fails, the source decodes on the CPU into surfaces."""
    want_pts, _, _ = _read_all(PyAVFileSource(str(clip(DANCE))), keep=0)
    with caplog.at_level(logging.WARNING):
        pts, images, on_device = _read_all(
            PyAVFileSource(str(clip(DANCE)), decode=DecodeTarget(CPU, nvdec=True))
        )
    assert pts == want_pts and all(on_device) and len(images) == 3
    lines = [r.message for r in caplog.records if "NVDEC" in r.message]
    assert len(lines) == 1 and "decoding on the CPU" in lines[0]


def test_rotated_video_surfaces_are_upright(tmp_path: Path) -> None:
    path = write_irregular_video(tmp_path / "phone.mp4", [0.0, 0.1], size_wh=(96, 64))
    with_display_matrix(path, _ROTATE_CW_MATRIX)
    _, host, _ = _read_all(PyAVFileSource(str(path)))
    _, dev, _ = _read_all(PyAVFileSource(str(path), decode=DecodeTarget(CPU, nvdec=False)))
    assert dev[0].shape == (96, 64, 3)
    np.testing.assert_array_equal(dev[0], host[0])


def test_decode_plan() -> None:
    """cpu is always host frames; gpu needs a device path; auto picks surfaces where there is one."""
    assert plan_decode("cpu", CPU, "") is None
    assert plan_decode("auto", None, "the model runs on the CPU") is None
    assert plan_decode("auto", CPU, "") == DecodeTarget(CPU, nvdec=False)
    with pytest.raises(ConfigError, match="--decode gpu: the model runs on the CPU"):
        plan_decode("gpu", None, "the model runs on the CPU")
    with pytest.raises(ConfigError, match="must be one of"):
        plan_decode("nvdec", CPU, "")
