"""Who is in a zone. By the **mask** (the default): the share of an instance's mask pixels that lie in
the zone, so a person whose feet are hidden, or a car half in a lane, is judged by what is seen of it.
By an anchor (``bottom-center``, ``center`` of the box) when asked: what other tools do.

Masks are crops inside their boxes (``InstanceMasks``): the share is a sum over the crop and the zone
bitmap's matching window, never a full-frame bitmap per instance.
"""

from __future__ import annotations

import numpy as np

from streamseg.types import BoolArray, FloatArray, InstanceMasks


def mask_shares(masks: InstanceMasks, area: BoolArray) -> FloatArray:
    """(N,) share of each instance's mask pixels inside ``area`` (0 for an empty mask)."""
    shares = np.zeros(len(masks), dtype=np.float32)
    h, w = area.shape
    for i, (crop, origin) in enumerate(zip(masks.crops, masks.origins, strict=True)):
        total = int(np.count_nonzero(crop))
        if total == 0:
            continue
        x0, y0 = int(origin[0]), int(origin[1])
        ch, cw = crop.shape
        xs, ys = max(x0, 0), max(y0, 0)
        xe, ye = min(x0 + cw, w), min(y0 + ch, h)
        if xe <= xs or ye <= ys:
            continue
        window = area[ys:ye, xs:xe]
        inside = np.count_nonzero(crop[ys - y0 : ye - y0, xs - x0 : xe - x0] & window)
        shares[i] = inside / total
    return shares


def anchor_points(xyxy: FloatArray, anchor: str) -> FloatArray:
    """(N, 2) the box point that stands for each instance: its bottom centre or its centre."""
    cx = (xyxy[:, 0] + xyxy[:, 2]) / 2
    y = xyxy[:, 3] if anchor == "bottom-center" else (xyxy[:, 1] + xyxy[:, 3]) / 2
    return np.stack([cx, y], axis=1).astype(np.float32)


def anchors_inside(points: FloatArray, area: BoolArray) -> BoolArray:
    """(N,) whether each point's pixel is in ``area`` (a point on the frame's far edge counts as the last
    pixel: a box's bottom is often exactly the frame's)."""
    h, w = area.shape
    if len(points) == 0:
        return np.zeros(0, dtype=bool)
    x = np.clip(np.floor(points[:, 0]).astype(np.int64), 0, w - 1)
    y = np.clip(np.floor(points[:, 1]).astype(np.int64), 0, h - 1)
    within = (points[:, 0] >= 0) & (points[:, 1] >= 0) & (points[:, 0] <= w) & (points[:, 1] <= h)
    inside: BoolArray = within & area[y, x]
    return inside
