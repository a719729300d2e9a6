"""Which instances of a result are reported when the network ran below what is shown (a tracked run
with ``model.conf`` unset: ``config.confidence``): those a tracker keeps, whatever their score, and the
others only above the shown threshold, so ``--conf`` still says what is seen without a track id."""

from __future__ import annotations

import dataclasses

import numpy as np

from streamseg.types import BoolArray, FloatArray, InstanceMasks, IntArray, SegResult

HIDDEN = -2  # a device-path track id: the instance is not reported (``shown``), drop it before drawing


def shown(score: FloatArray, track_id: IntArray, min_score: float) -> BoolArray:
    """Instances with a track id, and those above ``min_score`` (as the network's own ``score > conf``)."""
    keep: BoolArray = (track_id >= 0) | (score > min_score)
    return keep


def select_instances(result: SegResult, keep: BoolArray) -> SegResult:
    """``result`` with only the instances ``keep`` marks (masks still on a device stay there)."""
    if keep.all():
        return result
    idx = np.flatnonzero(keep)
    privacy = result.privacy
    if privacy is not None:
        privacy = dataclasses.replace(privacy, hidden=privacy.hidden[idx])
    return dataclasses.replace(
        result,
        privacy=privacy,
        xyxy=result.xyxy[idx],
        class_id=result.class_id[idx],
        score=result.score[idx],
        masks=_select_masks(result.masks, idx),
        track_id=result.track_id[idx],
    )


def _select_masks(masks: InstanceMasks, idx: IntArray) -> InstanceMasks:
    if masks.on_host:
        crops = masks.crops
        return InstanceMasks(tuple(crops[i] for i in idx), masks.origins[idx], masks.frame_hw)
    return InstanceMasks.deferred(masks.origins[idx], masks.frame_hw, _Picked(masks, idx))


class _Picked:
    """The deferred crops of some instances: all are fetched (once, by ``masks``), these are kept."""

    def __init__(self, masks: InstanceMasks, idx: IntArray) -> None:
        self._masks, self._idx = masks, idx

    def __call__(self) -> tuple[BoolArray, ...]:
        crops = self._masks.crops
        return tuple(crops[i] for i in self._idx)
