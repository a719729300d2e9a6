"""Where the work of a run happens, decided before anything opens: the runtime, where frames are
decoded, where masks are drawn, which encoder records; and what ``streamseg doctor`` reports.

Decode (NVDEC or the CPU), postprocess and overlay (on the device or the host) and the encoder (NVENC
or x264) all follow from one question, where the model's device path runs, so they are answered
together here, once.
"""

from __future__ import annotations

from streamseg.inference.runtimes.probe import (
    Check,
    cuda_check,
    nvml_check,
    onnxruntime_check,
    tensorrt_check,
    torch_check,
    torchvision_check,
)


def video_checks(index: int = 0) -> list[Check]:
    """NVDEC (``--decode gpu``) and NVENC (``--encoder nvenc``) as PyAV's FFmpeg sees them."""
    from streamseg.gpu.decode import nvdec_problem  # noqa: PLC0415
    from streamseg.record.encoders import nvenc_problem  # noqa: PLC0415

    cuda = cuda_check(index)
    problem = nvdec_problem() or (None if cuda.ok else f"no CUDA device for the frames ({cuda.detail})")
    nvdec = Check("NVDEC (PyAV)", problem is None, problem or "decodes on the GPU; --decode auto uses it")
    problem = nvenc_problem()
    nvenc = Check("NVENC (PyAV)", problem is None, problem or "opens; --encoder auto records with it")
    return [nvdec, nvenc]


def doctor(index: int = 0) -> list[Check]:
    return [
        nvml_check(index),
        torch_check(),
        cuda_check(index),
        tensorrt_check(),
        onnxruntime_check(),
        torchvision_check(),
        *video_checks(index),
    ]
