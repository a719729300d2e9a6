"""The self-check's cache: keyed by GPU, driver, PyTorch, model and version; a bad file costs a rerun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from streamseg.pipeline.selfcheck import cache
from streamseg.pipeline.selfcheck.cache import Identity, StepCache, identity, model_identity
from streamseg.pipeline.selfcheck.steps import GRAPHS, KERNEL, NVDEC, Step


def test_steps_come_back_by_key(tmp_path: Path) -> None:
    store = StepCache(tmp_path)
    assert store.load("k") == {}
    store.store("k", {KERNEL: Step(KERNEL, True), NVDEC: Step(NVDEC, False, "differs")})
    store.store("k", {GRAPHS: Step(GRAPHS, True)})  # added to the entry, not replacing it
    store.store("other", {KERNEL: Step(KERNEL, True)})
    again = StepCache(tmp_path)
    assert again.load("k") == {
        KERNEL: Step(KERNEL, True),
        NVDEC: Step(NVDEC, False, "differs"),
        GRAPHS: Step(GRAPHS, True),
    }
    assert again.load("other") == {KERNEL: Step(KERNEL, True)}
    assert again.load("unknown") == {}


def test_a_broken_or_foreign_file_is_an_empty_cache(tmp_path: Path) -> None:
    store = StepCache(tmp_path)
    store.path.write_text("{not json")
    assert store.load("k") == {}
    store.path.write_text(json.dumps({"k": {"kernel": {"ok": "yes"}, "nvdec": [1], "graphs": {"ok": True}}}))
    assert store.load("k") == {GRAPHS: Step(GRAPHS, True)}
    store.store("k", {KERNEL: Step(KERNEL, True)})  # and it is rewritten whole
    assert set(StepCache(tmp_path).load("k")) == {KERNEL, GRAPHS}


def test_an_unwritable_cache_only_costs_a_rerun(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = StepCache(blocker / "below")  # a folder that cannot be made
    store.store("k", {KERNEL: Step(KERNEL, True)})
    assert store.load("k") == {}
    assert not list(tmp_path.glob("**/.selfcheck-*"))


def test_old_entries_are_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "MAX_ENTRIES", 3)
    store = StepCache(tmp_path)
    for i in range(5):
        store.store(f"k{i}", {KERNEL: Step(KERNEL, True)})
    assert [k for k in ("k0", "k1", "k2", "k3", "k4") if store.load(k)] == ["k2", "k3", "k4"]


def test_the_default_folder_is_the_users_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMSEG_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert StepCache().path == tmp_path / "xdg" / "streamseg" / "selfcheck.json"
    monkeypatch.setenv("STREAMSEG_CACHE_DIR", str(tmp_path / "mine"))
    assert StepCache().path == tmp_path / "mine" / "selfcheck.json"


def test_the_key_changes_with_what_the_answers_depend_on(tmp_path: Path) -> None:
    model = tmp_path / "m.pt"
    model.write_bytes(b"weights")
    first = identity(torch.device("cpu"), model)
    assert first == identity(torch.device("cpu"), model)
    assert first.torch == torch.__version__ and first.model.startswith(str(model.resolve()))
    model.write_bytes(b"other weights")  # a new file at the same path
    assert identity(torch.device("cpu"), model).key != first.key
    base = Identity("NVIDIA H100", "9.0", "570.1", "2.7.0", "m", "0.1.0")
    for change in (
        {"gpu": "NVIDIA L4"},
        {"capability": "8.9"},
        {"driver": "575.0"},
        {"torch": "2.8.0"},
        {"model": "n"},
        {"streamseg": "0.2.0"},
    ):
        assert Identity(**{**base.__dict__, **change}).key != base.key
    assert model_identity(None) == "" and model_identity("yolov8n-seg.pt") == "yolov8n-seg.pt"
