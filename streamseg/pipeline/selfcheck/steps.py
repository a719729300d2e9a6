"""One check's outcome, as the cache keeps it and the line words it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streamseg.gpu.failures import describe

KERNEL = "kernel"
NVDEC = "nvdec"
GRAPHS = "graphs"
TITLES = {
    KERNEL: "test kernel",
    NVDEC: "NVDEC vs CPU decode",
    GRAPHS: "CUDA graphs vs eager",
}


@dataclass(frozen=True)
class Step:
    """``ok``: the feature may be used (also when it could not be checked: ``why`` says so); not
    ``ok``: it is turned off for the run and ``why`` says why in a few words."""

    name: str
    ok: bool
    why: str = ""
    checked: bool = True  # False: it could not run here (kept out of the cache, tried again next time)

    @classmethod
    def unchecked(cls, name: str, why: str) -> Step:
        """A step that could not run here: the feature stays as planned, ``why`` says so."""
        return cls(name, True, f"not checked: {why}", checked=False)

    @property
    def title(self) -> str:
        return TITLES.get(self.name, self.name)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "why": self.why}

    @classmethod
    def from_json(cls, name: str, raw: object) -> Step | None:
        """The step a cache entry holds, or None when the entry is not one (an older or broken file)."""
        if not isinstance(raw, dict) or not isinstance(raw.get("ok"), bool):
            return None
        why = raw.get("why", "")
        return cls(name, raw["ok"], why if isinstance(why, str) else "")


def said(exc: BaseException) -> str:
    """What a failed step says of ``exc``, in a few words: what the GPU failure is (without its way
    round: the self-check takes it itself), else the first line of the message."""
    failure = describe(exc)
    if failure is not None:
        return f"{failure.what} ({failure.detail})" if failure.detail else failure.what
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
