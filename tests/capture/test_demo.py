"""The built-in demo clip: built once from Ultralytics' bundled photos, cached, and a normal video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamseg.capture import CACHE_ENV, default_cache_dir, demo, demo_clip_path
from streamseg.errors import SourceError

from .media import decode_all


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Building takes a few seconds, so the module shares one clip."""
    return demo_clip_path(tmp_path_factory.mktemp("cache"))


def test_demo_clip_is_a_6s_720p_video(built: Path) -> None:
    assert built.name == f"demo_v{demo.DEMO_VERSION}.mp4"
    d = decode_all(built)
    assert d.error is None
    assert d.resolution_wh == (1280, 720)
    assert len(d.pts) == 180
    assert d.frame_count == 180
    assert d.nominal_fps == pytest.approx(30.0)
    assert d.pts[-1] == pytest.approx(6.0, abs=0.1)


def test_demo_clip_is_cached_not_rebuilt(built: Path) -> None:
    before = built.stat().st_mtime_ns
    assert demo_clip_path(built.parent) == built
    assert built.stat().st_mtime_ns == before
    assert [p.name for p in built.parent.iterdir()] == [built.name], "no temp files left behind"


def test_cache_dir_env_var(monkeypatch: pytest.MonkeyPatch, built: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(built.parent))
    assert default_cache_dir() == built.parent
    assert demo_clip_path() == built  # found in the env-var folder: nothing is built


def test_default_cache_dir_without_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "streamseg"


def test_frames_move_like_video(built: Path) -> None:
    """Consecutive frames differ a little (pan/zoom), the two halves a lot (different photos)."""
    photos = [demo._load(p) for p in demo._asset_paths()]
    a, b = demo.render_frame(photos, 1.0), demo.render_frame(photos, 1.0 + 1 / 30)
    far = demo.render_frame(photos, 5.0)
    small = float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())
    large = float(np.abs(a.astype(np.int16) - far.astype(np.int16)).mean())
    assert 0 < small < 10 < large


def test_missing_assets_give_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(demo, "ultralytics_assets_dir", lambda: tmp_path)
    with pytest.raises(SourceError, match=r"bus\.jpg, zidane\.jpg not found"):
        demo_clip_path(tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_assets_are_found_without_importing_ultralytics() -> None:
    import sys

    had = "ultralytics" in sys.modules
    folder = demo.ultralytics_assets_dir()
    assert (folder / "bus.jpg").is_file()
    assert ("ultralytics" in sys.modules) == had
