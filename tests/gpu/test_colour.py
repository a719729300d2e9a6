"""YUV <-> BGR on torch (``device.colour``) against the host libraries the CPU path uses.

The issue's bound is +-1 per channel against PyAV's own conversion of the same frames; on x86 we
reproduce swscale exactly, so the tests also report (and bound) how many pixels differ at all.
"""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
import torch

from streamseg.gpu.colour import YuvCoefficients, bgr_to_i420, coefficient_table, yuv_to_bgr
from streamseg.gpu.surface import import_video_frame
from tests.capture.media import ALL_CLIPS, clip

CPU = torch.device("cpu")


def _frames(name: str, indices: tuple[int, ...] = (0, 37)) -> list[av.VideoFrame]:
    out = []
    with av.open(str(clip(name))) as container:
        for i, vf in enumerate(container.decode(video=0)):
            if i in indices:
                out.append(vf)
            if i >= max(indices):
                break
    return out


def _assert_close_to_pyav(ours: np.ndarray, theirs: np.ndarray) -> None:
    diff = np.abs(ours.astype(np.int16) - theirs.astype(np.int16))
    assert diff.max() <= 1, f"max difference {diff.max()} per channel"
    assert (diff > 0).mean() < 1e-3  # in practice exactly equal on x86


@pytest.mark.parametrize("name", ALL_CLIPS)
def test_surface_to_bgr_matches_pyav(name: str) -> None:
    """Every shared clip (709, 601 and untagged; the AVI is gray), decoded frame -> surface -> BGR."""
    for vf in _frames(name):
        want = vf.to_ndarray(format="bgr24")
        got = import_video_frame(vf, CPU).to_host_bgr()
        _assert_close_to_pyav(got, want)


def test_nv12_layout_matches_pyav() -> None:
    """NVDEC hands over NV12 (interleaved chroma): the same picture as the planar frame it came from."""
    vf = _frames("street_pedestrians_720p30.mp4", (5,))[0]
    nv12 = vf.reformat(format="nv12")
    _assert_close_to_pyav(import_video_frame(nv12, CPU).to_host_bgr(), vf.to_ndarray(format="bgr24"))


@pytest.mark.parametrize("colorspace", [1, 2, 4, 5, 6, 7, 9])
@pytest.mark.parametrize("color_range", [1, 2])
def test_every_matrix_and_range(colorspace: int, color_range: int) -> None:
    """swscale's coefficient table per AVColorSpace, limited and full (JPEG) range."""
    vf = _frames("highway_cars_720p30.mp4", (3,))[0]
    vf.colorspace, vf.color_range = colorspace, color_range
    _assert_close_to_pyav(import_video_frame(vf, CPU).to_host_bgr(), vf.to_ndarray(format="bgr24"))


def _random_frame(rng: np.random.Generator, w: int, h: int) -> av.VideoFrame:
    vf = av.VideoFrame(w, h, "yuv420p")
    for plane in vf.planes:
        plane.update(rng.integers(16, 240, plane.buffer_size, dtype=np.uint8).tobytes())
    return vf


def test_batches_with_a_matrix_per_frame() -> None:
    """A batch converts in one call, each frame with its own coefficient row."""
    rng = np.random.default_rng(3)
    frames = [_random_frame(rng, 334, 242) for _ in range(3)]
    frames[1].colorspace, frames[2].color_range = 1, 2
    surfaces = [import_video_frame(vf, CPU) for vf in frames]
    table = coefficient_table([s.coefficients for s in surfaces], CPU)
    bgr = yuv_to_bgr(torch.stack([s.y for s in surfaces]), torch.stack([s.uv for s in surfaces]), table)
    for k, vf in enumerate(frames):
        _assert_close_to_pyav(bgr[k].numpy(), vf.to_ndarray(format="bgr24"))


def test_odd_sizes_take_each_chroma_sample_for_its_block() -> None:
    """Odd width/height (no camera sends them, swscale then interpolates instead): the last row and
    column use the last chroma sample, exactly as the even picture one pixel larger, cropped."""
    rng = np.random.default_rng(4)
    odd = import_video_frame(_random_frame(rng, 333, 241), CPU)
    y = torch.cat([odd.y, odd.y[-1:]], 0)
    y = torch.cat([y, y[:, -1:]], 1)
    table = coefficient_table([odd.coefficients], CPU)
    even = yuv_to_bgr(y[None], odd.uv[None], table)[0, :241, :333]
    got = odd.to_host_bgr()
    assert got.shape == (241, 333, 3)
    np.testing.assert_array_equal(got, even.numpy())


def test_coefficients_are_swscale_s() -> None:
    """The 16-bit multipliers swscale derives for BT.709 limited range (from its 16.16 table)."""
    c = YuvCoefficients.for_frame(1, 1)
    assert c.as_tuple() == (9539, 128, 17305, 14686, -1747, -4366)


def test_bgr_to_i420_equals_opencv() -> None:
    """The recorder's conversion on the device: what cv2.COLOR_BGR2YUV_I420 gives, bit for bit."""
    rng = np.random.default_rng(0)
    frame = _frames("street_dance_crowd_720p25.mp4", (1,))[0].to_ndarray(format="bgr24")
    images = [rng.integers(0, 256, (64, 96, 3), dtype=np.uint8), frame]
    for image in images:
        got = bgr_to_i420(torch.from_numpy(image)[None])[0].numpy()
        np.testing.assert_array_equal(got, cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420))
    with pytest.raises(ValueError, match="even"):
        bgr_to_i420(torch.zeros((1, 5, 6, 3), dtype=torch.uint8))


def test_rotated_surface_equals_rotated_image() -> None:
    """Phone videos are stored sideways: a surface turns like np.rot90 turns the BGR image."""
    vf = _frames("office_person_720p_vfr.mp4", (2,))[0]
    surface = import_video_frame(vf, CPU)
    want = vf.to_ndarray(format="bgr24")
    for turns in (1, 2, 3):
        np.testing.assert_array_equal(surface.rotated(turns).to_host_bgr(), np.rot90(want, turns))
