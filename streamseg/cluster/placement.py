"""How cameras are split into groups, and which group takes a camera added later (no Ray here).

One group is one actor running one ``Pipeline``: its cameras share inference batches on one GPU (or
CPU), so a group should be what one accelerator can carry. With ``cluster.cameras_per_group`` set,
groups have that many cameras; otherwise there is one group per GPU of the cluster (per node when
there are no GPUs), cameras dealt out evenly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from streamseg.config import SourceConfig


def group_name(index: int) -> str:
    return f"g{index}"


def split(cameras: Sequence[SourceConfig], per_group: int, slots: int) -> list[list[SourceConfig]]:
    """Cameras in order, cut into groups of ``per_group`` (when > 0) or into ``slots`` even groups."""
    if not cameras:
        return []
    if per_group > 0:
        return [list(cameras[i : i + per_group]) for i in range(0, len(cameras), per_group)]
    n = max(1, min(slots, len(cameras)))
    size, extra = divmod(len(cameras), n)
    groups, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        groups.append(list(cameras[start:end]))
        start = end
    return groups


def group_for_new_camera(sizes: Mapping[str, int], per_group: int) -> str | None:
    """The group a new camera joins (the emptiest with room), or None when it needs a new group."""
    open_groups = [g for g, n in sizes.items() if per_group <= 0 or n < per_group]
    if not open_groups:
        return None
    return min(open_groups, key=lambda g: (sizes[g], _index(g)))


def next_group_name(existing: Sequence[str]) -> str:
    used = {_index(g) for g in existing}
    index = 1
    while index in used:
        index += 1
    return group_name(index)


def _index(name: str) -> int:
    digits = name[1:]
    return int(digits) if digits.isdigit() else 0
