"""NVDEC into device surfaces on a real GPU (opt-in, see conftest): odd sizes, the copy ordered behind
FFmpeg's own, and the host fallback of a source whose import fails.

These tests have NOT been run yet: no GPU was lent when they were written (issue 25).

Why VP9 for the odd size: H.264 and HEVC in 4:2:0 crop in units of two pixels, so their decoded
pictures always have even sizes; VP9 codes any size (chroma at the ceiling), libvpx-vp9 is in PyAV's
wheels, and NVDEC decodes VP9 on every GPU since Pascal. Both decoders are exact (VP9 and H.264
define their output bit for bit), so the device's planes must equal the CPU decoder's.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import torch

from streamseg.capture import PyAVFileSource
from streamseg.gpu import surface as surface_module
from streamseg.gpu.decode import DecodeTarget
from streamseg.gpu.surface import import_video_frame
from streamseg.testing.media import synthetic_frame
from streamseg.types import Frame
from tests.conftest import VIDEOS, require_asset

CPU = torch.device("cpu")
CLIP = VIDEOS / "street_pedestrians_720p30.mp4"


def _vp9(path: Path, size_wh: tuple[int, int], n: int) -> Path:
    width, height = size_wh
    with av.open(str(path), "w", format="webm") as out:
        stream = out.add_stream("libvpx-vp9", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(synthetic_frame(i, width, height), format="bgr24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _cpu_planes(path: Path, n: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(luma, interleaved chroma, BGR) of the first ``n`` frames, decoded and imported on the CPU."""
    out = []
    with av.open(str(path)) as container:
        for vf in container.decode(video=0):
            s = import_video_frame(vf, CPU, use_ring=False)
            out.append((s.y.numpy().copy(), s.uv.numpy().copy(), vf.to_ndarray(format="bgr24")))
            if len(out) == n:
                break
    return out


def _nvdec(path: Path, device: str, n: int, between: Any = None) -> list[Frame]:
    frames: list[Frame] = []
    with PyAVFileSource(str(path), decode=DecodeTarget(torch.device(device), nvdec=True)) as source:
        while len(frames) < n:
            if between is not None:
                between()
            frame = source.read()
            if frame is None:
                break
            frames.append(frame)
    return frames


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Ours only (FFmpeg's own messages reach the log too)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("streamseg")
    ]


def test_odd_sized_frames_from_nvdec_equal_the_cpu_decoder(
    cuda_device: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """641x361: PyAV exports NVDEC's chroma at the floor size (180, 320, 2); the import repeats the
    last row and column. Luma and every exported chroma sample equal the CPU decode exactly."""
    n = 12
    path = _vp9(tmp_path / "odd.webm", (641, 361), n)
    with caplog.at_level(logging.WARNING):
        gpu = _nvdec(path, cuda_device, n)
    assert not _warnings(caplog), f"NVDEC did not take the VP9 stream: {_warnings(caplog)}"
    cpu = _cpu_planes(path, n)
    assert len(gpu) == len(cpu) == n
    for frame, (y, uv, bgr) in zip(gpu, cpu, strict=True):
        s = frame.surface
        assert s is not None and s.y.device.type == "cuda"  # type: ignore[attr-defined]
        assert s.frame_hw == (361, 641) and tuple(s.uv.shape) == (181, 321, 2)  # type: ignore[attr-defined]
        np.testing.assert_array_equal(s.y.cpu().numpy(), y)  # type: ignore[attr-defined]
        np.testing.assert_array_equal(s.uv.cpu().numpy()[:-1, :-1], uv[:-1, :-1])  # type: ignore[attr-defined]
        mad = np.abs(frame.image.astype(np.int16) - bgr.astype(np.int16)).mean()
        assert mad <= 2.0


def test_nvdec_copies_are_ordered_behind_ffmpegs_with_the_gpu_busy(cuda_device: str) -> None:
    """FFmpeg copies each picture into its pool on the legacy default stream; with that stream (and
    another) kept busy, a copy that did not wait for it would read the pool before the picture is
    there (the previous frame, or half of one). Every frame equals the CPU decoder's, plane for plane."""
    n = 240
    device = torch.device(cuda_device)
    a = torch.randn(4096, 4096, device=device)
    b = torch.randn(4096, 4096, device=device)
    c = torch.empty_like(a)
    side = torch.cuda.Stream(device)  # type: ignore[no-untyped-call]
    stop = threading.Event()

    def keep_busy() -> None:  # another stream, from another thread, all along
        with torch.cuda.stream(side):
            while not stop.is_set():
                torch.matmul(a, b, out=torch.empty_like(a))
                side.synchronize()

    def busy_default() -> None:  # work queued ahead of FFmpeg's copy on the legacy default stream
        with torch.cuda.stream(torch.cuda.default_stream(device)):
            for _ in range(8):
                torch.matmul(a, b, out=c)

    worker = threading.Thread(target=keep_busy, daemon=True)
    worker.start()
    try:
        gpu = _nvdec(require_asset(CLIP), cuda_device, n, between=busy_default)
    finally:
        stop.set()
        worker.join(30)
    cpu = _cpu_planes(CLIP, n)
    assert len(gpu) == len(cpu) == n
    bad = []
    for i, (frame, (y, uv, _)) in enumerate(zip(gpu, cpu, strict=True)):
        s = frame.surface
        assert s is not None and s.y.device.type == "cuda"  # type: ignore[attr-defined]
        if not (np.array_equal(s.y.cpu().numpy(), y) and np.array_equal(s.uv.cpu().numpy(), uv)):  # type: ignore[attr-defined]
            bad.append(i)
    assert not bad, f"frames differing from the CPU decoder: {bad}"


def test_a_failed_import_falls_back_to_the_host_with_nvdec_frames(
    cuda_device: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """After an import fails, the source's CUDA frames are downloaded by PyAV's reformatter
    (``av_hwframe_transfer_data``) and converted on the host: no frame lost, pictures as decoded."""
    real = surface_module.import_video_frame
    calls = {"n": 0}

    def fail_fifth(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return real(*args, **kwargs)

    monkeypatch.setattr(surface_module, "import_video_frame", fail_fifth)
    n = 30
    with caplog.at_level(logging.WARNING):
        gpu = _nvdec(require_asset(CLIP), cuda_device, n)
    assert len(gpu) == n and [f.index for f in gpu] == list(range(n))
    assert [f.on_device for f in gpu] == [True] * 4 + [False] * (n - 4)
    assert len([m for m in _warnings(caplog) if "device memory failed" in m]) == 1
    for frame, (_, _, bgr) in zip(gpu, _cpu_planes(CLIP, n), strict=True):
        assert np.abs(frame.image.astype(np.int16) - bgr.astype(np.int16)).mean() <= 2.0
