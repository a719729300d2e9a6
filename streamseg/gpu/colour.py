"""YUV 4:2:0 <-> BGR on torch tensors, reproducing the host libraries bit for bit.

Why exact: the GPU path must produce the same pixels as the CPU path, so that the network sees the
same input whichever way a frame was decoded (parity tests compare the two) and a recording does not
change colour with ``--decode``.

* ``yuv_to_bgr`` is what FFmpeg's swscale computes for ``VideoFrame.to_ndarray(format="bgr24")`` on
  x86 (the SIMD ``yuv2rgb`` path PyAV uses for yuv420p/nv12 -> bgr24): nearest chroma, every term a
  16-bit fixed-point high-half multiply (``(a * b) >> 16``), coefficients from swscale's own tables
  for the frame's colour matrix and range.
* ``bgr_to_i420`` is OpenCV's ``cvtColor(COLOR_BGR2YUV_I420)`` (BT.601 limited range, 20-bit
  fixed point, chroma from the top-left pixel of each 2x2 block), which the CPU recorder uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# swscale's ff_yuv2rgb_coeffs: (crv, cbu, cgu, cgv) in 16.16 fixed point, indexed by AVColorSpace.
_SWS_COEFFS: dict[int, tuple[int, int, int, int]] = {
    0: (117489, 138438, 13975, 34925),  # no sequence display extension (treated as 709)
    1: (117489, 138438, 13975, 34925),  # BT.709
    2: (104597, 132201, 25675, 53279),  # unspecified -> BT.601
    3: (104597, 132201, 25675, 53279),  # reserved
    4: (104448, 132798, 24759, 53109),  # FCC
    5: (104597, 132201, 25675, 53279),  # BT.470BG
    6: (104597, 132201, 25675, 53279),  # SMPTE 170M
    7: (117579, 136230, 16907, 35559),  # SMPTE 240M
    8: (104597, 132201, 25675, 53279),  # YCgCo (swscale falls back to 601)
    9: (110013, 140363, 12277, 42626),  # BT.2020 non-constant
    10: (110013, 140363, 12277, 42626),  # BT.2020 constant
}
_DEFAULT_MATRIX = 2  # AVCOL_SPC_UNSPECIFIED: BT.601, as swscale
AVCOL_RANGE_JPEG = 2  # full range (0-255); anything else is limited (16-235)

# OpenCV's BGR -> YUV (BT.601, limited range) in 20-bit fixed point (color_yuv.simd.hpp).
_CV_SHIFT = 20
_CV_Y = (269484, 528482, 102760)  # r, g, b
_CV_U = (-155188, -305135, 460324)
_CV_V = (460324, -385875, -74448)


@dataclass(frozen=True, slots=True)
class YuvCoefficients:
    """The six 16-bit multipliers swscale's SIMD path uses for one matrix and range."""

    y_mul: int
    y_off: int
    ub: int
    vr: int
    ug: int
    vg: int

    @classmethod
    def for_frame(cls, colorspace: int, color_range: int) -> YuvCoefficients:
        """swscale's coefficients for an AVColorSpace and AVColorRange, as ``to_ndarray`` picks them."""
        crv, cbu, cgu, cgv = _SWS_COEFFS.get(colorspace, _SWS_COEFFS[_DEFAULT_MATRIX])
        cgu, cgv = -cgu, -cgv
        if color_range == AVCOL_RANGE_JPEG:
            cy, oy = 1 << 16, 0
            # C integer division truncates toward zero
            crv, cbu = crv * 224 // 255, cbu * 224 // 255
            cgu, cgv = -((-cgu * 224) // 255), -((-cgv * 224) // 255)
        else:
            cy, oy = (1 << 16) * 255 // 219, 16 << 16

        def to_int16(value: int) -> int:  # swscale's roundToInt16 on a 16.16 value scaled by 2^13
            return (value + (1 << 15)) >> 16

        return cls(
            y_mul=to_int16(cy * (1 << 13)),
            y_off=to_int16(oy * (1 << 3)),
            ub=to_int16(cbu * (1 << 13)),
            vr=to_int16(crv * (1 << 13)),
            ug=to_int16(cgu * (1 << 13)),
            vg=to_int16(cgv * (1 << 13)),
        )

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        return self.y_mul, self.y_off, self.ub, self.vr, self.ug, self.vg


def coefficient_table(coefficients: list[YuvCoefficients], device: torch.device) -> torch.Tensor:
    """(B, 6, 1, 1) int32: one row of multipliers per frame, for ``yuv_to_bgr``."""
    import torch  # noqa: PLC0415

    rows = [c.as_tuple() for c in coefficients]
    return torch.tensor(rows, dtype=torch.int32).reshape(len(rows), 6, 1, 1).to(device, non_blocking=True)


def yuv_to_bgr(y: torch.Tensor, uv: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    """(B, H, W) luma + (B, ceil(H/2), ceil(W/2), 2) interleaved chroma -> (B, H, W, 3) uint8 BGR.

    ``coefficients`` is ``coefficient_table``'s (B, 6, 1, 1). Chroma terms are computed at half
    resolution and repeated (swscale's unscaled converter takes each chroma sample for its 2x2 block).
    A frame at a time: the int32 intermediates are one frame's (100 MB at 4K), not the batch's, which a
    captured graph's pool would otherwise keep for good (1.6 GB for 16 frames at 4K).
    """
    import torch  # noqa: PLC0415

    batch, h, w = y.shape
    out = torch.empty((batch, h, w, 3), dtype=torch.uint8, device=y.device)
    for f in range(batch):
        out[f] = _yuv_to_bgr_one(y[f : f + 1], uv[f : f + 1], coefficients[f : f + 1])[0]
    return out


def _yuv_to_bgr_one(y: torch.Tensor, uv: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    import torch  # noqa: PLC0415

    batch, h, w = y.shape
    y_mul, y_off, ub, vr, ug, vg = coefficients.unbind(1)  # each (B, 1, 1)
    u = uv[..., 0].to(torch.int32) * 8 - 1024
    v = uv[..., 1].to(torch.int32) * 8 - 1024
    blue = (u * ub) >> 16
    red = (v * vr) >> 16
    green = ((u * ug) >> 16) + ((v * vg) >> 16)
    chroma = torch.stack((blue, green, red), dim=-1)  # (B, ch, cw, 3)
    luma = ((y.to(torch.int32) * 8 - y_off) * y_mul) >> 16  # (B, H, W)
    ch, cw = chroma.shape[1], chroma.shape[2]
    if h == 2 * ch and w == 2 * cw:  # even sizes: repeat by broadcasting, no index tensors
        out = luma.view(batch, ch, 2, cw, 2, 1) + chroma.view(batch, ch, 1, cw, 1, 3)
        out = out.view(batch, h, w, 3)
    else:
        rows = torch.arange(h, device=y.device) // 2
        cols = torch.arange(w, device=y.device) // 2
        out = luma[..., None] + chroma[:, rows][:, :, cols]
    return out.clamp_(0, 255).to(torch.uint8)


def bgr_to_i420(bgr: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 BGR (H, W even) -> (B, H * 3 // 2, W) uint8 planar yuv420p, as OpenCV."""
    import torch  # noqa: PLC0415

    batch, h, w, _ = bgr.shape
    if h % 2 or w % 2:
        raise ValueError(f"yuv420p needs even sizes, got {w}x{h}")
    out = torch.empty((batch, h * 3 // 2, w), dtype=torch.uint8, device=bgr.device)
    half = 1 << (_CV_SHIFT - 1)
    quarter = (h // 2) * (w // 2)
    for f in range(batch):  # a frame at a time: one frame's int32 intermediates (see yuv_to_bgr)
        pix = bgr[f].to(torch.int32)
        b, g, r = pix[..., 0], pix[..., 1], pix[..., 2]
        luma = (_CV_Y[0] * r + _CV_Y[1] * g + _CV_Y[2] * b + (16 << _CV_SHIFT) + half) >> _CV_SHIFT
        r0, g0, b0 = r[::2, ::2], g[::2, ::2], b[::2, ::2]
        u = (_CV_U[0] * r0 + _CV_U[1] * g0 + _CV_U[2] * b0 + (128 << _CV_SHIFT) + half) >> _CV_SHIFT
        v = (_CV_V[0] * r0 + _CV_V[1] * g0 + _CV_V[2] * b0 + (128 << _CV_SHIFT) + half) >> _CV_SHIFT
        out[f, :h] = luma.clamp_(0, 255)
        chroma = out[f, h:].view(2 * quarter)
        chroma[:quarter] = u.clamp_(0, 255).reshape(quarter)
        chroma[quarter:] = v.clamp_(0, 255).reshape(quarter)
    return out
