"""A SAM checkpoint file -> the network, built with Ultralytics' own builders.

Both Ultralytics' files (``sam_b.pt``, ``mobile_sam.pt``, ``sam2_t.pt`` ...) and Meta's originals
(``sam_vit_b_01ec64.pth`` ...) are plain state dicts with the same key names, so the family and size are
read from the weights themselves (not the file name) and the file is read with ``weights_only=True``:
nothing in it is executed. A file that is not SAM is named for what it is.
"""

from __future__ import annotations

import logging
import pickletools
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamseg.errors import ModelError, ModelNotFoundError
from streamseg.inference.model_files import _check_writable, _one_line, _quiet_ultralytics

logger = logging.getLogger(__name__)

ULTRALYTICS_NAMES = (
    "sam_b.pt", "sam_l.pt", "sam_h.pt", "mobile_sam.pt",
    "sam2_t.pt", "sam2_s.pt", "sam2_b.pt", "sam2_l.pt",
    "sam2.1_t.pt", "sam2.1_s.pt", "sam2.1_b.pt", "sam2.1_l.pt",
)  # fmt: skip
META_URL = "https://dl.fbaipublicfiles.com/segment_anything/"
META_NAMES = ("sam_vit_b_01ec64.pth", "sam_vit_l_0b3195.pth", "sam_vit_h_4b8939.pth")
# SAM 2.1 adds weights that only its video memory uses; the image path never reads them.
_SAM2_1_ONLY = frozenset({"no_obj_embed_spatial", "obj_ptr_tpos_proj.weight", "obj_ptr_tpos_proj.bias"})


@dataclass(frozen=True)
class SamSpec:
    """Which network a checkpoint holds: ``family`` is ``sam`` (SAM, MobileSAM) or ``sam2``."""

    family: str
    builder: str  # name of the builder in ultralytics.models.sam.build
    label: str


def resolve_sam_checkpoint(name: str, engines_dir: Path, flag: str = "--model") -> Path:
    """A local file, or a known name downloaded once into ``engines_dir`` (Ultralytics' or Meta's)."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    known = (*ULTRALYTICS_NAMES, *META_NAMES)
    if path.parent != Path(".") or path.name not in known:
        raise ModelNotFoundError(
            f"SAM checkpoint not found: {name} (pass a local file with {flag} PATH, or one of "
            f"{', '.join(known)} to download it)"
        )
    cached = engines_dir / path.name
    if cached.is_file():
        return cached
    _check_writable(engines_dir)
    logger.info("downloading %s to %s", path.name, cached)
    try:
        _download(path.name, cached)
    except Exception as exc:
        raise ModelNotFoundError(
            f"could not download {path.name} ({_one_line(exc)}); offline? pass a local checkpoint with "
            f"{flag} PATH"
        ) from None
    if not cached.is_file():
        raise ModelNotFoundError(
            f"could not download {path.name}; offline? pass a local checkpoint with {flag} PATH"
        )
    return cached


def _download(name: str, target: Path) -> None:
    if name in META_NAMES:
        import torch.hub  # noqa: PLC0415

        partial = target.with_name(target.name + ".partial")
        torch.hub.download_url_to_file(META_URL + name, str(partial), progress=False)
        partial.replace(target)
        return
    _quiet_ultralytics()
    from ultralytics.utils.downloads import attempt_download_asset  # noqa: PLC0415 - slow import

    attempt_download_asset(str(target))


def load_sam_network(path: Path) -> tuple[Any, SamSpec]:
    """Read ``path`` safely, tell which SAM it is, build that network and load the weights (eval, CPU)."""
    state = read_state_dict(path)
    spec = identify(state, path)
    _quiet_ultralytics()
    from ultralytics.models.sam import build  # noqa: PLC0415 - slow import

    builder: Callable[..., Any] = getattr(build, spec.builder)
    net = builder(checkpoint=None)
    missing, unexpected = net.load_state_dict(state, strict=False)
    extra = set(unexpected) - (_SAM2_1_ONLY if spec.family == "sam2" else set())
    if missing or extra:
        shown = (missing or sorted(extra))[:3]
        raise ModelError(
            f"{path} does not fit {spec.label}: {', '.join(shown)} ... (a damaged or altered file?)"
        )
    net.eval()
    logger.info("%s: %s", path, spec.label)
    return net, spec


def read_state_dict(path: Path) -> Mapping[str, Any]:
    """The tensors of a checkpoint (plain, or under ``model``), without running any pickled code."""
    import torch  # noqa: PLC0415

    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        what = _pickled_class(path)
        if what is not None:
            raise ModelError(f"{path} is not a SAM checkpoint: it holds {what}") from None
        raise ModelError(f"{path} is not a SAM checkpoint ({_one_line(exc, first=True)})") from None
    if isinstance(data, Mapping) and isinstance(data.get("model"), Mapping):
        data = data["model"]
    if not isinstance(data, Mapping) or not data:
        raise ModelError(f"{path} is not a SAM checkpoint (no weights in it)")
    return data


def identify(state: Mapping[str, Any], path: Path) -> SamSpec:
    """The SAM family and size, from key names and tensor shapes."""
    keys = set(state)
    if "image_encoder.trunk.patch_embed.proj.weight" in keys:
        dim = int(state["image_encoder.trunk.patch_embed.proj.weight"].shape[0])
        blocks = len(
            {m.group(1) for k in keys if (m := re.match(r"image_encoder\.trunk\.blocks\.(\d+)\.", k))}
        )
        size = {(96, 12): "t", (96, 16): "s", (112, 24): "b", (144, 48): "l"}.get((dim, blocks))
        if size is not None:
            version = "2.1" if "no_obj_embed_spatial" in keys else "2"
            return SamSpec("sam2", f"build_sam2_{size}", f"SAM {version} ({size})")
    elif "image_encoder.patch_embed.proj.weight" in keys:
        dim = int(state["image_encoder.patch_embed.proj.weight"].shape[0])
        size = {768: "b", 1024: "l", 1280: "h"}.get(dim)
        if size is not None:
            return SamSpec("sam", f"build_sam_vit_{size}", f"SAM ViT-{size.upper()}")
    elif "image_encoder.patch_embed.seq.0.c.weight" in keys:
        return SamSpec("sam", "build_mobile_sam", "MobileSAM")
    if any(k.startswith("image_encoder.") for k in keys):
        raise ModelError(f"{path}: a SAM-like checkpoint of a size streamseg does not know")
    sample = ", ".join(sorted(keys)[:2])
    raise ModelError(f"{path} is not a SAM checkpoint (no image encoder among its weights: {sample} ...)")


def _pickled_class(path: Path) -> str | None:
    """The model class a full pickled checkpoint holds (e.g. an Ultralytics YOLO .pt), read from the
    pickle's opcodes without unpickling it, so the error can say what the file is."""
    try:
        with zipfile.ZipFile(path) as archive:
            pkl = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
            data = archive.read(pkl) if pkl else b""
    except (OSError, zipfile.BadZipFile):
        return None
    strings: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("GLOBAL", "STACK_GLOBAL") and isinstance(arg, str):
                strings.append(arg.replace(" ", "."))
            elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE") and isinstance(arg, str):
                strings.append(arg)
    except Exception:  # a truncated pickle: say nothing rather than guess
        return None
    kinds = {
        "SegmentationModel": "an Ultralytics YOLO segmentation model (streamseg run --model takes those)",
        "DetectionModel": "an Ultralytics detection model (YOLO)",
        "ClassificationModel": "an Ultralytics classification model (YOLO -cls)",
        "PoseModel": "an Ultralytics pose model",
        "OBBModel": "an Ultralytics oriented-box model",
    }
    for text in strings:
        for cls, what in kinds.items():
            if text.endswith(cls):
                return what
    return None
