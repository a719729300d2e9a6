"""``MotionDetector`` on synthetic 720p scenes: a still picture with sensor noise never moves, a small
textured square moving 8 px a frame always does (by about its own share of the frame), motion inside
an ignore area never counts, exposure steps are learnt, and a new frame size starts over."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from streamseg.capture.motion import MotionDetector, moved
from streamseg.config.detect import IgnoreArea, MotionConfig
from streamseg.types import UInt8Array

W, H = 1280, 720
SQUARE = 40  # px: 0.17 % of a 720p frame
SQUARE_SHARE = SQUARE * SQUARE / (W * H)
ON = MotionConfig(enabled=True)


def scene(w: int = W, h: int = H) -> UInt8Array:
    """A lit gradient with a fixed fine texture, the same every frame."""
    yy, xx = np.mgrid[0:h, 0:w]
    grey = 60 + xx * 100 // w + yy * 60 // h + np.random.default_rng(7).integers(0, 20, (h, w))
    return np.repeat(grey.astype(np.uint8)[:, :, None], 3, axis=2)


def square() -> UInt8Array:
    """Four 20x20 quarters of different levels: texture that survives the downscale."""
    tex = np.empty((SQUARE, SQUARE, 3), dtype=np.uint8)
    half = SQUARE // 2
    tex[:half, :half], tex[:half, half:], tex[half:, :half], tex[half:, half:] = 30, 230, 200, 40
    return tex


def noisy(image: UInt8Array, rng: np.random.Generator, brighter: int = 0) -> UInt8Array:
    """``image`` with +-3 grey levels of independent sensor noise per pixel (and an exposure step)."""
    noise = rng.integers(-3, 4, image.shape) + brighter
    noisy: UInt8Array = np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return noisy


def with_square(background: UInt8Array, x: int, y: int) -> UInt8Array:
    frame = background.copy()
    frame[y : y + SQUARE, x : x + SQUARE] = square()
    return frame


def test_a_still_noisy_picture_has_no_motion_after_the_first_frame() -> None:
    rng, still = np.random.default_rng(1), scene()
    detector = MotionDetector(ON)
    assert detector.share == 0.0 and not detector.moved
    assert detector.measure(noisy(still, rng)) == 1.0 and detector.moved  # no background yet
    shares = [detector.measure(noisy(still, rng)) for _ in range(30)]
    assert max(shares) == 0.0 and not detector.moved


def test_a_moving_square_moves_every_frame_by_about_its_share() -> None:
    rng, still = np.random.default_rng(2), scene()
    detector = MotionDetector(MotionConfig(enabled=True, min_area=0.001))
    detector.measure(noisy(still, rng))
    shares = [detector.measure(noisy(with_square(still, 100 + 8 * i, 300), rng)) for i in range(60)]
    assert all(0.5 * SQUARE_SHARE < s < 2 * SQUARE_SHARE for s in shares), shares
    assert detector.moved
    assert not moved(shares[-1], ON)  # 40x40 px is under the default 0.2 % (43x43 px at 720p)


def test_motion_inside_an_ignore_area_does_not_count() -> None:
    rng, still = np.random.default_rng(3), scene()
    for ignore in (
        IgnoreArea(((0.0, 0.3), (0.6, 0.3), (0.6, 0.6), (0.0, 0.6))),  # fractions of the frame
        IgnoreArea(((0.0, 216.0), (768.0, 216.0), (768.0, 432.0), (0.0, 432.0))),  # pixels of it
    ):
        detector = MotionDetector(MotionConfig(enabled=True, ignore=(ignore,)))
        detector.measure(noisy(still, rng))
        shares = [detector.measure(noisy(with_square(still, 100 + 8 * i, 300), rng)) for i in range(40)]
        assert max(shares) == 0.0, (ignore, shares)
        outside = [detector.measure(noisy(with_square(still, 100 + 8 * i, 520), rng)) for i in range(5)]
        assert min(outside[1:]) > 0.5 * SQUARE_SHARE  # below the area it counts again


def test_an_ignore_area_past_a_smaller_frame_is_clipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    area = IgnoreArea(((0.0, 0.0), (1500.0, 0.0), (1500.0, 100.0), (0.0, 100.0)))
    detector = MotionDetector(MotionConfig(enabled=True, ignore=(area,)), "source door")
    with caplog.at_level(logging.WARNING):
        assert detector.measure(scene(640, 360)) == 1.0
    assert "source door.ignore[0]: point [1500, 0] is outside the 640x360 frame" in caplog.text


def test_exposure_steps_are_learnt() -> None:
    """A few levels never count; 40 levels count as the whole frame for 9 frames, then not at all."""
    rng, still = np.random.default_rng(4), scene()
    detector = MotionDetector(ON)
    for _ in range(5):
        detector.measure(noisy(still, rng))
    assert max(detector.measure(noisy(still, rng, brighter=6)) for _ in range(10)) == 0.0
    detector = MotionDetector(ON)
    for _ in range(5):
        detector.measure(noisy(still, rng))
    shares = [detector.measure(noisy(still, rng, brighter=40)) for _ in range(15)]
    assert min(shares[:9]) > 0.9
    assert max(shares[10:]) == 0.0 and not moved(shares[9], ON), shares


def test_a_new_frame_size_or_a_reset_starts_over() -> None:
    rng = np.random.default_rng(5)
    detector = MotionDetector(ON)
    small, large = scene(1280, 720), scene(1920, 1080)
    assert [detector.measure(noisy(small, rng)) for _ in range(3)] == [1.0, 0.0, 0.0]
    assert [detector.measure(noisy(large, rng)) for _ in range(3)] == [1.0, 0.0, 0.0]
    detector.reset()
    assert detector.measure(noisy(large, rng)) == 1.0


def test_grey_and_narrow_frames() -> None:
    """A grey frame is measured as it is; one narrower than ``width`` is not upscaled."""
    rng = np.random.default_rng(6)
    grey = np.ascontiguousarray(scene(200, 100)[:, :, 0])
    detector = MotionDetector(MotionConfig(enabled=True, width=320))
    assert [detector.measure(noisy(grey, rng)) for _ in range(3)] == [1.0, 0.0, 0.0]
    moving = grey.copy()
    moving[40:60, 40:60] = 250
    assert detector.measure(moving) == pytest.approx(400 / 20_000, rel=0.5)
