"""What the graph bodies read besides the frames: their static input buffers, the device letterboxes
and the mask decoders, each made once per what sizes it.

Why one place, with rules: a captured graph reads these by address. Letterboxes and decoders may be
dropped at any time (a graph keeps what it read alive itself, ``gpu.graphs``), so they are kept per
letterbox in a small LRU: the latency ladder's imgsz rungs and new frame sizes do not grow them
without bound. A static input buffer is different: the host writes the next batch into it and the
graph reads it, so it must be the same tensor for as long as a graph that reads it is cached.
``prune`` drops only buffers no cached graph can read.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any

from streamseg.inference.letterbox import Letterbox
from streamseg.inference.yolo.device.letterbox import DeviceLetterbox
from streamseg.inference.yolo.device.masks import PackedMaskDecoder
from streamseg.inference.yolo.masks import MaskDecoder

if TYPE_CHECKING:
    import torch

MAX_GEOMETRIES = 16  # letterboxes (and decoders) kept: frame sizes x imgsz rungs in use at once


class StaticInputs:
    """The device path's buffers, letterboxes and decoders on ``device``."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._buffers: dict[Hashable, torch.Tensor] = {}
        self._letterboxes: OrderedDict[Letterbox, DeviceLetterbox] = OrderedDict()
        self._decoders: OrderedDict[tuple[Letterbox, tuple[int, int]], PackedMaskDecoder] = OrderedDict()

    def buffer(self, key: Hashable, make: Callable[[], torch.Tensor]) -> torch.Tensor:
        """The buffer for ``key``, made on first use (the same tensor until ``prune`` drops it)."""
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = make()
        return buf

    def buffer_keys(self) -> list[Any]:
        return list(self._buffers)

    def prune(self, read_by_graphs: Iterable[Hashable]) -> None:
        """Drop the buffers no cached graph reads (``read_by_graphs``: the keys of those that do)."""
        keep = set(read_by_graphs)
        self._buffers = {k: b for k, b in self._buffers.items() if k in keep}

    def letterbox(self, lb: Letterbox) -> DeviceLetterbox:
        letterbox: DeviceLetterbox = _lru(self._letterboxes, lb, lambda: DeviceLetterbox(lb, self.device))
        return letterbox

    def decoder(self, lb: Letterbox, proto_hw: tuple[int, int]) -> PackedMaskDecoder:
        decoder: PackedMaskDecoder = _lru(
            self._decoders, (lb, proto_hw), lambda: PackedMaskDecoder(MaskDecoder(lb, proto_hw), self.device)
        )
        return decoder

    @property
    def nbytes(self) -> int:
        """Bytes of the static buffers (letterboxes and decoders are small)."""
        return sum(int(b.untyped_storage().nbytes()) for b in self._buffers.values())


def _lru(cache: OrderedDict[Any, Any], key: Any, make: Callable[[], Any]) -> Any:
    value = cache.get(key)
    if value is None:
        value = cache[key] = make()
        while len(cache) > MAX_GEOMETRIES:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return value
