"""Opening a file or a stream with PyAV, NVDEC first where asked (falling back to the CPU decoder once),
every failure turned into one line that says what the input is: missing, not a video, a truncated
file of a known container, a camera that refuses the login, one that does not answer."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import av
import av.error

from streamseg.capture.sniff import sniff_container
from streamseg.errors import SourceError, SourceNotFoundError, SourceTimeout
from streamseg.gpu.nvdec import nvdec_accel
from streamseg.redact import redact_text

logger = logging.getLogger(__name__)


def check_local_file(p: Path) -> None:
    """Refuse what cannot be a video before FFmpeg looks at it."""
    if not p.exists():
        raise SourceNotFoundError(f"video file not found: {p}")
    if p.is_dir():
        raise SourceError(f"{p} is a directory, not a video file")
    if not p.is_file():
        raise SourceError(f"{p} is not a regular file")
    if p.stat().st_size == 0:
        raise SourceError(f"{p} is not a video file (it is empty)")


@dataclass(frozen=True)
class ContainerOpener:
    """``av.open`` of one input (``label``: how messages name it, redacted), with its timeouts and options."""

    label: str
    target: str
    is_url: bool
    timeout: tuple[float, float] | None
    options: dict[str, str]

    def with_nvdec(self, index: int) -> av.container.InputContainer | None:
        """Opened for NVDEC on CUDA device ``index``; None (logged) when it refuses."""
        try:
            return av.open(
                self.target,
                mode="r",
                timeout=self.timeout,
                options=self.options or None,
                hwaccel=nvdec_accel(index),
            )
        except av.error.ExitError:
            raise self._timed_out() from None
        except (av.error.FFmpegError, OSError) as exc:
            logger.warning("%s: NVDEC refused (%s); decoding on the CPU", self.label, reason(exc))
            return None

    def on_cpu(self) -> av.container.InputContainer:
        try:
            return av.open(self.target, mode="r", timeout=self.timeout, options=self.options or None)
        except av.error.ExitError:
            raise self._timed_out() from None
        except PermissionError:
            raise SourceError(f"cannot read {self.target}: permission denied") from None
        except (av.error.FFmpegError, OSError) as exc:
            why = reason(exc)
            if self.is_url:
                if isinstance(exc, (av.error.HTTPUnauthorizedError, av.error.HTTPForbiddenError)):
                    why += " (check the user name and password in the URL)"
                raise SourceError(f"cannot open stream {self.label}: {why}") from None
            family = sniff_container(Path(self.target))
            if family is not None:
                raise SourceError(
                    f"{self.target} is not a playable video (truncated or corrupt {family} file?): {why}"
                ) from None
            raise SourceError(f"{self.target} is not a video file ({why})") from None

    def _timed_out(self) -> SourceTimeout:
        seconds = self.timeout[0] if self.timeout else 0.0
        return SourceTimeout(f"{self.label}: no answer within {seconds:g} s")


def reason(exc: BaseException) -> str:
    """FFmpeg's message without the errno and the repeated file name."""
    text = getattr(exc, "strerror", None) or str(exc)
    return redact_text(str(text).strip()) or type(exc).__name__
