"""Step three's comparison, run with the torch backend's device path on the CPU: graphs are not
captured there, so the "graph" engine is made to differ on purpose to see each mismatch caught."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

from streamseg.inference.runtimes import InferenceBackend, create_backend
from streamseg.pipeline.selfcheck import graphs
from streamseg.pipeline.selfcheck.steps import GRAPHS, Step
from tests.conftest import FIXTURE_PT, require_asset

IMGSZ = 320  # the CPU's share of the work; on a GPU the check runs at the model's imgsz


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[bool, InferenceBackend]]:
    """Graphs on and off: two instances on the CPU (``close`` keeps a CPU backend usable)."""
    made = {
        on: create_backend("torch", require_asset(FIXTURE_PT), "cpu", cuda_graphs=on, device_ops=True)
        for on in (True, False)
    }
    yield made
    for backend in made.values():
        backend.close()


@pytest.fixture(scope="module")
def eager_outcomes(backends: dict[bool, InferenceBackend]) -> dict[int, list[graphs.Outcome]]:
    engine = graphs._engine(backends[False], IMGSZ)
    frames = graphs.synthetic_frames(max(graphs.BATCHES))
    return {n: graphs.run_batch(engine, frames[:n]) for n in graphs.BATCHES}


def test_alike_engines_pass(backends: dict[bool, InferenceBackend]) -> None:
    assert graphs.graphs_step(backends.__getitem__, IMGSZ) == Step(GRAPHS, True)


def test_the_batch_has_something_to_compare(eager_outcomes: dict[int, list[graphs.Outcome]]) -> None:
    results = [result for result, _ in eager_outcomes[3]]
    assert len(results) == 3 and len(results[0]) > 1 and sum(len(r) for r in results) > 3
    assert all(picture is not None for _, picture in eager_outcomes[3])  # drawn on the device path
    assert graphs.batch_difference(eager_outcomes[3], eager_outcomes[3]) is None


def _shift_boxes(monkeypatch: pytest.MonkeyPatch, backend: InferenceBackend, from_call: int) -> None:
    """The backend's network moves every box from its ``from_call``-th call on."""
    real = backend.network  # type: ignore[attr-defined]
    calls = [0]

    def shifted(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        head, protos = real(batch)
        calls[0] += 1
        if calls[0] >= from_call:
            head = head.clone()
            head[:, :2] += 8.0
        return head, protos

    monkeypatch.setattr(backend, "network", shifted)


def test_a_graph_unlike_eager_is_caught(
    monkeypatch: pytest.MonkeyPatch, backends: dict[bool, InferenceBackend]
) -> None:
    _shift_boxes(monkeypatch, backends[True], from_call=1)
    step = graphs.graphs_step(backends.__getitem__, IMGSZ)
    assert not step.ok
    assert step.why.startswith("a batch of 1 replays unlike eager: frame 0: ")


def test_a_bucket_spoilt_by_the_other_capture_is_caught(
    monkeypatch: pytest.MonkeyPatch, backends: dict[bool, InferenceBackend]
) -> None:
    _shift_boxes(monkeypatch, backends[True], from_call=3)  # round two: after both buckets were made
    step = graphs.graphs_step(backends.__getitem__, IMGSZ)
    assert not step.ok
    assert step.why.startswith("a batch of 1 after the other bucket was captured replays unlike eager")


def test_a_failed_capture_turns_graphs_off(
    monkeypatch: pytest.MonkeyPatch, backends: dict[bool, InferenceBackend]
) -> None:
    def refuses(batch: torch.Tensor) -> Any:
        if batch.shape[0] > 1:
            raise torch.AcceleratorError("CUDA error: operation not permitted when stream is capturing")
        return real(batch)

    real = backends[True].network  # type: ignore[attr-defined]
    monkeypatch.setattr(backends[True], "network", refuses)
    step = graphs.graphs_step(backends.__getitem__, IMGSZ)
    assert step == Step(
        GRAPHS,
        False,
        "a batch of 3 failed: capturing a CUDA graph failed "
        "(operation not permitted when stream is capturing)",
    )


def test_each_difference_in_a_few_words(eager_outcomes: dict[int, list[graphs.Outcome]]) -> None:
    result, picture = eager_outcomes[3][0]
    n = len(result)
    assert n > 1
    same = graphs.result_difference
    assert same(result, result) is None
    fewer = dataclasses.replace(
        result,
        xyxy=result.xyxy[1:],
        class_id=result.class_id[1:],
        score=result.score[1:],
        masks=_masks(result, 1),
        track_id=result.track_id[1:],
    )
    assert same(fewer, result) == f"{n - 1} instances instead of {n}"
    assert same(dataclasses.replace(result, class_id=result.class_id + 1), result) == "other classes"
    assert same(dataclasses.replace(result, xyxy=result.xyxy + 3.0), result) == "boxes moved by 3.0 px"
    assert same(dataclasses.replace(result, xyxy=result.xyxy + 0.5), result) is None  # rounding
    assert same(dataclasses.replace(result, score=result.score + 0.01), result) == "scores differ by 0.010"
    pixels = np.asarray(graphs._pixels(picture))
    assert graphs.picture_difference(picture, picture) is None
    assert graphs.picture_difference(pixels, np.zeros_like(pixels)) is not None
    assert graphs.picture_difference(None, picture) is None


def _masks(result: Any, start: int) -> Any:
    from streamseg.types import InstanceMasks

    masks = result.masks
    return InstanceMasks(masks.crops[start:], masks.origins[start:], masks.frame_hw)
