"""``model.imgsz`` and ``model.conf`` unset by default (the model's own size, Ultralytics' conf rules:
``inference.input_size``, ``config.confidence``); a value given is checked as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamseg.config import Config, ModelConfig, from_dict, load_yaml, merge
from streamseg.errors import ConfigError
from tests.conftest import REPO


def test_unset_by_default_in_code_and_in_the_documented_yaml() -> None:
    assert (ModelConfig().imgsz, ModelConfig().conf) == (None, None)
    documented = load_yaml(REPO / "configs" / "default.yaml").model
    assert (documented.imgsz, documented.conf) == (None, None)


def test_given_values_are_kept_and_checked(tmp_path: Path) -> None:
    cfg = from_dict({"model": {"imgsz": 320, "conf": 0.4}})
    assert (cfg.model.imgsz, cfg.model.conf) == (320, 0.4)
    assert from_dict({"model": {"imgsz": None, "conf": None}}).model == ModelConfig()
    assert merge(Config(), model={"imgsz": 1024, "conf": None}).model.imgsz == 1024
    for model, message in (
        ({"imgsz": 100}, "multiple of 32"),
        ({"imgsz": "big"}, "model.imgsz"),
        ({"imgsz": 8192}, "multiple of 32"),
        ({"conf": 1.5}, "between 0 and 1"),
    ):
        with pytest.raises(ConfigError, match=message):
            from_dict({"model": model})
