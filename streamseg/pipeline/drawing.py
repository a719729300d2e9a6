"""Which frames are drawn: every frame where an output needs them all (recordings, clips, publishing,
snapshots), else only those of sources whose live video someone watches."""

from __future__ import annotations

from dataclasses import dataclass

from streamseg.config import Config
from streamseg.pipeline.live import LiveBook
from streamseg.pipeline.sinks import annotated_outputs


@dataclass(frozen=True)
class DrawPolicy:
    config: Config
    live: LiveBook | None
    privacy: bool = False  # a source may hide people or places: drawn on the host, on its hidden frame

    @property
    def always(self) -> bool:
        """An output needs every frame drawn (snapshots: an event's annotated frame)."""
        return annotated_outputs(self.config) or bool(self.config.events.snapshots)

    def on_device(self) -> bool:
        """Whether a model's device path draws: its overlay is part of the batch's graph and draws
        every frame, so only when an output needs every frame. A watched source's frames are drawn
        on the host otherwise (``RenderStep``): the cost only while someone watches. With privacy the
        host draws on the hidden frame (the device's graph body does not hide yet)."""
        return self.always and not self.privacy

    def source(self, name: str) -> bool:
        """Whether the render step hands on this frame's picture: always where an output needs every
        frame, else while the source's live video is watched."""
        return self.always or (self.live is not None and self.live.watched(name))
