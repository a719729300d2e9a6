"""Still images as sources: a file, a folder, a glob; one frame each, named by the picture's file name."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from streamseg.capture import ImageSource, create_source, open_source
from streamseg.capture.images import expand_images, is_image_uri
from streamseg.config import SourceConfig, default_source_name
from streamseg.errors import SourceError, SourceNotFoundError
from tests.conftest import IMAGES, read_image, require_asset


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    bus = read_image(IMAGES / "bus.jpg")
    cv2.imwrite(str(folder / "b.png"), bus[:200, :300])
    cv2.imwrite(str(folder / "a.jpg"), bus)
    (folder / "notes.txt").write_text("not a picture")
    return folder


def test_a_folder_is_one_source_with_a_frame_per_image_in_name_order(photos: Path) -> None:
    src = open_source(SourceConfig(str(photos)))
    assert isinstance(src, ImageSource)
    assert (src.name, src.is_live, src.frame_count, src.file_names) == (
        "photos",
        False,
        2,
        ["a.jpg", "b.png"],
    )
    frames = list(src)
    assert [(f.source, f.index, f.file_name) for f in frames] == [
        ("photos", 0, "a.jpg"),
        ("photos", 1, "b.png"),
    ]
    assert frames[0].image.shape == (1080, 810, 3) and frames[1].image.shape == (200, 300, 3)
    np.testing.assert_array_equal(frames[1].image, cv2.imread(str(photos / "b.png")))


def test_a_glob_and_a_single_file(photos: Path) -> None:
    globbed = open_source(SourceConfig(str(photos / "*.png")))
    assert (globbed.name, [f.file_name for f in globbed]) == ("photos", ["b.png"])
    single = open_source(SourceConfig(str(require_asset(IMAGES / "bus.jpg"))))
    frames = list(single)
    assert (single.name, len(frames), frames[0].file_name) == ("bus", 1, "bus.jpg")


def test_recursive_glob_names_keep_the_sub_folder(photos: Path) -> None:
    (photos / "day2").mkdir()
    cv2.imwrite(str(photos / "day2" / "c.png"), np.zeros((8, 8, 3), np.uint8))
    assert [name for _, name in expand_images(str(photos / "**" / "*.png"))] == ["b.png", "day2/c.png"]


def test_a_picture_without_its_usual_suffix_is_still_recognised(tmp_path: Path) -> None:
    odd = tmp_path / "snapshot.dat"
    odd.write_bytes(cv2.imencode(".png", np.full((4, 6, 3), 7, np.uint8))[1].tobytes())
    assert is_image_uri(str(odd))
    assert not is_image_uri("rtsp://cam/x.jpg") and not is_image_uri(str(IMAGES.parent / "videos" / "x.mp4"))
    assert isinstance(create_source(SourceConfig(str(odd))), ImageSource)


def test_glob_names_are_the_folder_before_the_wildcard() -> None:
    assert default_source_name("shots/*.png") == "shots"
    assert default_source_name("a/b/**/*.jpg") == "b"
    assert default_source_name("*.png") == "images"


@pytest.mark.parametrize(
    ("make", "error", "needle"),
    [
        (lambda d: str(d / "nope.jpg"), SourceNotFoundError, "image file not found"),
        (lambda d: str(d / "*.png"), SourceNotFoundError, "no images match"),
        (str, SourceError, "has no images in it"),
        (lambda d: _write(d / "broken.jpg", b"\xff\xd8\xff garbage"), SourceError, "is not an image"),
    ],
)
def test_bad_image_sources_fail_at_open_with_one_line(tmp_path: Path, make, error, needle) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=needle) as info:
        open_source(SourceConfig(make(tmp_path)))
    assert "\n" not in str(info.value)


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)
