"""INT8 calibration for ``build-engine --precision int8``: the user's images, letterboxed exactly as at
run time, fed to TensorRT's entropy calibrator; the result cached beside the plan."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from streamseg.errors import ModelError
from streamseg.inference.runtimes.tensorrt.plan import BuildSpec

logger = logging.getLogger(__name__)


def make_calibrator(trt_mod: Any, folder: Path, spec: BuildSpec, plan: Path, device_index: int) -> Any:
    """An entropy calibrator over the images in ``folder``, letterboxed exactly as at run time."""
    import cv2  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    from streamseg.inference.letterbox import make_letterbox, to_tensor  # noqa: PLC0415

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"))
    if not files:
        raise ModelError(f"--calib-images {folder}: no .jpg/.png images found")
    h, w = spec.input_hw
    batch = spec.batch_opt
    cache = plan.with_name(plan.name + ".calib")
    device = torch.device("cuda", device_index)

    class FolderCalibrator(trt_mod.IInt8EntropyCalibrator2):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.position = 0
            self.buffer = torch.empty((batch, 3, h, w), dtype=torch.float32, device=device)

        def get_batch_size(self) -> int:
            return batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            if self.position >= len(files):
                return None
            host = np.empty((batch, 3, h, w), dtype=np.float32)
            for k in range(batch):
                path = files[(self.position + k) % len(files)]
                raw = cv2.imread(str(path))
                if raw is None:
                    raise ModelError(f"cannot read calibration image {path}")
                image = np.asarray(raw, dtype=np.uint8)
                lb = make_letterbox(image.shape[:2], max(h, w), 32, fixed_input_hw=(h, w))
                to_tensor(lb.apply(image), host[k])
            self.position += batch
            self.buffer.copy_(torch.from_numpy(host))
            return [int(self.buffer.data_ptr())]

        def read_calibration_cache(self) -> bytes | None:
            return cache.read_bytes() if cache.is_file() else None

        def write_calibration_cache(self, data: Any) -> None:
            cache.write_bytes(bytes(data))

    logger.info("INT8 calibration on %d images from %s", len(files), folder)
    return FolderCalibrator()
