"""Running the self-check: at the start of a run whose model is on CUDA, and for ``doctor --deep``.

``at_start`` takes the run's config and plan and gives them back with what failed turned off (NVDEC:
decode on the CPU; graphs: eager), or stops the run with one line where nothing can work (no code for
this GPU, a kernel that does not run) or where the user asked for the feature outright (``--decode
gpu``, ``--cuda-graphs on``). Each step's answer is cached (``cache``); only the steps this run needs
and the cache lacks are run.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from streamseg.config import Config, ModelConfig, OutputConfig, merge
from streamseg.config.devices import parse_device
from streamseg.errors import GpuError, StreamsegError
from streamseg.gpu.decode import nvdec_problem
from streamseg.inference.runtimes import InferenceBackend, create_backend
from streamseg.inference.runtimes.probe import cuda_visible_check
from streamseg.inference.runtimes.select import select_backend
from streamseg.pipeline.drawing import DrawPolicy
from streamseg.pipeline.plan import RunPlan, plan_run
from streamseg.pipeline.selfcheck import line
from streamseg.pipeline.selfcheck.cache import StepCache, identity
from streamseg.pipeline.selfcheck.decode import decode_step
from streamseg.pipeline.selfcheck.graphs import graphs_step
from streamseg.pipeline.selfcheck.kernel import device_runs_code
from streamseg.pipeline.selfcheck.steps import GRAPHS, KERNEL, NVDEC, Step
from streamseg.pipeline.sinks import annotated_outputs

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SelfCheckReport:
    """What the self-check found, and the run's config and plan with what failed turned off."""

    line: str | None  # the one line to show; None: the model is not on CUDA, nothing was checked
    config: Config
    plan: RunPlan | None
    steps: dict[str, Step] = field(default_factory=dict)

    @property
    def turned_off(self) -> list[str]:
        """The steps that failed (their features are off for this run)."""
        return [name for name, step in self.steps.items() if not step.ok]


def at_start(
    cfg: Config,
    plan: RunPlan,
    *,
    backend: InferenceBackend | None = None,
    cache_dir: Path | None = None,
    refresh: bool = False,
) -> SelfCheckReport:
    """Check what ``plan`` relies on when its model runs on CUDA (else return at once, unchanged).

    ``backend``: a runtime the caller lent the pipeline (its graphs are then not checked);
    ``refresh``: run every step again (``doctor --deep``). Raises ``GpuError`` (one line) when the GPU
    runs no code, or a feature the user asked for outright fails its check.
    """
    device = plan.device_path
    if device is None or device.type != "cuda":
        return SelfCheckReport(None, cfg, plan)
    backend_name = "given" if backend is not None else select_backend(cfg.model, quiet=True)[0]
    return run_checks(cfg, plan, device, backend_name, cache_dir=cache_dir, refresh=refresh)


def run_checks(
    cfg: Config,
    plan: RunPlan,
    device: torch.device,
    backend_name: str,
    *,
    cache_dir: Path | None = None,
    refresh: bool = False,
) -> SelfCheckReport:
    """``at_start``'s work on any device (the CPU in tests): the steps the run needs, from the cache
    where it has them; ``backend_name``: the run's runtime (the graph step loads it, if torch)."""
    started = time.perf_counter()
    cache = StepCache(cache_dir)
    key = identity(device, _weights_path(cfg.model)).key
    known = {} if refresh else cache.load(key)
    fresh: dict[str, Step] = {}

    def step(name: str, run: Callable[[], Step]) -> Step:
        if name not in known:
            fresh[name] = run()
        return known.get(name) or fresh[name]

    steps = {KERNEL: step(KERNEL, lambda: device_runs_code(device))}  # raises: nothing would run
    if plan.decode is not None and plan.decode.nvdec:
        target = plan.decode
        steps[NVDEC] = step(NVDEC, lambda: decode_step(target))
    if cfg.model.cuda_graphs != "off":
        steps[GRAPHS] = step(GRAPHS, lambda: _graph_check(cfg.model, device, backend_name))
    worth_keeping = {name: s for name, s in fresh.items() if s.checked}
    if worth_keeping:
        cache.store(key, worth_keeping)
    checked_cfg, checked_plan = _turn_off(cfg, plan, steps)
    seconds = time.perf_counter() - started if worth_keeping else None
    items = _items(checked_cfg, checked_plan, steps, cfg.model.cuda_graphs)
    text = line.compose(str(device), _gpu_name(device), seconds, items)
    logger.info("%s", text)
    return SelfCheckReport(text, checked_cfg, checked_plan, steps)


def deep(
    device: str, model: str, engines_dir: str = "engines", cache_dir: Path | None = None
) -> SelfCheckReport:
    """``streamseg doctor --deep``: every step, fresh, for a recorded run of ``model`` (with the torch
    backend) on ``device``; on a machine without that GPU, the line says so and nothing runs."""
    kind, index = parse_device(device)
    cfg = Config(
        model=ModelConfig(path=model, device=device, backend="torch", engines_dir=engines_dir),
        output=OutputConfig(record="out.mp4"),
    )
    if kind != "cuda":
        return SelfCheckReport(line.no_gpu_line(f"--device {device} is not a GPU"), cfg, None)
    visible = cuda_visible_check(index)
    if not visible.ok:
        return SelfCheckReport(line.no_gpu_line(visible.detail), cfg, None)
    return at_start(cfg, plan_run(cfg), cache_dir=cache_dir, refresh=True)


def _graph_check(model: ModelConfig, device: torch.device, backend_name: str) -> Step:
    """The graph step for the run's runtime: the torch backend, loaded twice (graphs on and off)."""
    if backend_name != "torch":
        return Step.unchecked(
            GRAPHS, "a backend given by the caller" if backend_name == "given" else backend_name
        )
    from streamseg.inference.input_size import input_size  # noqa: PLC0415
    from streamseg.inference.model_files import resolve_weights  # noqa: PLC0415

    try:
        weights = resolve_weights(model.path, Path(model.engines_dir))
    except StreamsegError as exc:
        return Step.unchecked(GRAPHS, str(exc))

    def make_backend(graphs: bool) -> InferenceBackend:
        # "on": a capture that fails raises here (auto would quietly run it eagerly, hiding the failure)
        mode = "on" if graphs else "off"
        return create_backend("torch", weights, str(device), model.threads, cuda_graphs=mode, device_ops=True)

    try:
        return graphs_step(make_backend, input_size(model).value)
    finally:
        import torch  # noqa: PLC0415

        torch.cuda.empty_cache()  # the check's graphs and buffers go back before the run's are made


def _turn_off(cfg: Config, plan: RunPlan, steps: dict[str, Step]) -> tuple[Config, RunPlan]:
    """``cfg`` and ``plan`` without what failed; a feature asked for outright stops the run instead."""
    nvdec, graphs = steps.get(NVDEC), steps.get(GRAPHS)
    if nvdec is not None and not nvdec.ok:
        if cfg.pipeline.decode == "gpu":
            raise GpuError(
                f"--decode gpu: NVDEC failed the GPU self-check ({nvdec.why}); use --decode cpu", "nvdec"
            )
        logger.info("NVDEC is off for this run: %s", nvdec.why)
        cfg, plan = merge(cfg, pipeline={"decode": "cpu"}), dataclasses.replace(plan, decode=None)
    if graphs is not None and not graphs.ok:
        if cfg.model.cuda_graphs == "on":
            raise GpuError(
                f"--cuda-graphs on: CUDA graphs failed the GPU self-check ({graphs.why}); "
                "use --cuda-graphs off (or auto)",
                "graph capture",
            )
        logger.info("CUDA graphs are off for this run: %s", graphs.why)
        cfg = merge(cfg, model={"cuda_graphs": "off"})
    return cfg, plan


def _items(cfg: Config, plan: RunPlan, steps: dict[str, Step], graphs_mode: str) -> list[str]:
    """The line's items for the run as checked (``cfg`` and ``plan`` with what failed turned off;
    ``graphs_mode``: ``--cuda-graphs`` as given)."""
    device = str(plan.device_path)
    decode = plan.decode
    why_not = (nvdec_problem() or "") if decode is None and cfg.pipeline.decode != "cpu" else ""
    encodes = annotated_outputs(cfg) or cfg.dashboard.listen is not None
    codec = plan.codec if encodes else None
    nvenc_why = None
    if codec is not None and codec != line.NVENC_CODEC and cfg.output.encoder == "auto":
        from streamseg.record.encoders import nvenc_problem  # noqa: PLC0415

        nvenc_why = nvenc_problem()
    return [
        line.decode_item(
            cfg.pipeline.decode, None if decode is None else decode.nvdec, steps.get(NVDEC), why_not
        ),
        line.postprocess_item(device),
        line.overlay_item(DrawPolicy(cfg, None).on_device(), device, cfg.dashboard.listen is not None),
        line.graphs_item(graphs_mode, steps.get(GRAPHS)),
        line.encoder_item(codec, cfg.output.encoder, nvenc_why),
    ]


def _weights_path(model: ModelConfig) -> Path:
    """The model file the run reads, where it already is (the default model once downloaded)."""
    path = Path(model.path).expanduser()
    return path if path.is_file() else Path(model.engines_dir) / path.name


def _gpu_name(device: torch.device) -> str:
    import torch  # noqa: PLC0415

    return str(torch.cuda.get_device_name(device.index or 0)) if device.type == "cuda" else device.type
