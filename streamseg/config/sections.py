"""The sections of a run's configuration, one frozen dataclass each, with their defaults: what ``run``'s
flags, a YAML file (``load``) and the Python API fill in. ``schema.Config`` holds one of each."""

from __future__ import annotations

from dataclasses import dataclass

from streamseg.config.detect import SourceDetect
from streamseg.config.names import default_source_name
from streamseg.config.privacy import SourcePrivacy
from streamseg.config.scene import LineConfig, ZoneConfig

DEFAULT_MODEL = "yolov8n-seg.pt"
BACKENDS = ("auto", "onnxruntime", "torch", "tensorrt")
DECODE_CHOICES = ("auto", "cpu", "gpu")
ENCODER_CHOICES = ("auto", "x264", "nvenc")
CUDA_GRAPHS_CHOICES = ("auto", "on", "off")  # auto: graphs where they work, eager (one line) where not
PRIORITIES = ("low", "normal", "high")  # live sources under a latency budget: low ones degrade first
MAX_URI_CHARS = 4096  # longer is refused before any work: no camera URL comes near it
MAX_NAME_CHARS = 128


@dataclass(frozen=True)
class SourceConfig:
    """One input: a file path, a webcam index / ``/dev/videoN``, or (later) a stream URL."""

    uri: str
    name: str = ""
    # Webcams only: the mode to ask for (0 = the camera's default); the log says what the camera gives.
    width: int = 0
    height: int = 0
    fps: float = 0.0
    # Under --latency-budget: low-priority cameras are strided first, high-priority ones last.
    priority: str = "normal"
    track: str = ""  # "" = the run's tracking (``track.tracker``); off, bytetrack or botsort for this source
    zones: tuple[ZoneConfig, ...] = ()  # areas counted and watched (events: entered, exited, loitering)
    lines: tuple[LineConfig, ...] = ()  # segments whose crossings are counted (events: crossed)
    privacy: SourcePrivacy | None = None  # what is hidden in its pictures; None: the run's ``privacy:``
    detect: SourceDetect | None = None  # ``detect_fps:`` and ``motion:``; None: the run's ``detect:``

    def display_name(self) -> str:
        return self.name or default_source_name(self.uri)


@dataclass(frozen=True)
class SourceRules:
    """Which sources a run takes and how many: ``sources:`` written as a mapping in YAML
    (``{max: 32, allow_listen: false, list: [...]}``); the plain list form keeps these defaults."""

    max: int = 0  # most sources at once; 0 = sized from the machine (8 per CPU core, 16 to 64)
    allow_listen: bool = False  # let a source bind a port (listen=1, udp://@:port, srt listener): off
    min_fps: float = 1.0  # refuse a runtime add that would leave each source fewer processed frames/s


@dataclass(frozen=True)
class ModelConfig:
    path: str = DEFAULT_MODEL  # Ultralytics -seg .pt or .onnx
    # longest side of the network input (the other: the smallest stride multiple); None: the model's own,
    # as Ultralytics (a .pt's training size, a fixed input's size, else 640: inference/input_size.py)
    imgsz: int | None = None
    conf: float | None = None  # None: 0.25, and 0.1 for what trackers get (as Ultralytics): config/confidence
    iou: float = 0.7
    max_det: int = 300
    batch: int = 4  # most frames per inference call
    batch_timeout_ms: float = 5.0  # how long the batcher waits to fill a batch once it has one frame
    backend: str = "auto"  # with --device cpu: ONNX Runtime; on CUDA: TensorRT, else PyTorch
    device: str = "cpu"
    threads: int = 0  # intra-op threads for ONNX Runtime; 0 = its default (all cores)
    engines_dir: str = "engines"  # where exported ONNX files are cached
    cuda_graphs: str = "auto"  # auto: a graph that fails runs eagerly (one line); on: it stops the run; off


@dataclass(frozen=True)
class RenderConfig:
    masks: bool = True
    boxes: bool = True
    labels: bool = True
    hud: bool = True
    alpha: float = 0.45  # mask opacity
    line_width: int = 2


@dataclass(frozen=True)
class OutputConfig:
    record: str | None = None  # annotated H.264 mp4; out.mp4 -> out_<name>.mp4 for several sources
    save_results: str | None = None  # JSON lines, one per frame
    save_images: str | None = None  # folder for annotated copies of still-image sources
    telemetry: str | None = None  # JSON lines, one snapshot per second
    crf: int = 23
    preset: str = "veryfast"
    segment: str | None = None  # start a new recording file every so long ("10m", "30s", "1h")
    encoder: str = "auto"  # auto | x264 | nvenc; auto: NVENC when the model is on a GPU that has one
    clips: str | None = None  # --clips DIR: an MP4 per event, from before it to after it
    pre_roll: str = "5s"  # how long before the event a clip starts (at a keyframe at least this early)
    post_roll: str = "5s"  # how long after the last event of a clip it ends
    clip_classes: tuple[str, ...] = ()  # only events (or, untracked, the presence) of these classes
    publish: str | None = None  # --publish rtsp://server/{source}: push each source's annotated video
    publish_transport: str = "tcp"  # RTSP publishing over tcp or udp (servers differ)
    retain: str | None = None  # delete recordings and snapshots older than this ("7d", "12h")
    retain_size: str | None = None  # keep recordings and snapshots under this in all ("50GB"), oldest go


@dataclass(frozen=True)
class PipelineConfig:
    queue_size: int = 8  # frames buffered per source, and results buffered before render
    stage_timeout_s: float = 0.1  # every blocking put/get waits at most this long before re-checking stop
    source_timeout_s: float = 5.0  # a network source silent this long: reconnect (live) or error (file URL)
    loop: bool = False  # play file sources again from the start when they end (demos, soak tests)
    decode: str = "auto"  # auto | cpu | gpu; auto: NVDEC when the model's device path is on CUDA
    # GPU memory for decoded frames (the surface rings) and captured graphs: "auto" (sized from the
    # GPU's memory) or a size such as "4GB"; past it frames spill to the host and old graphs are freed
    gpu_memory: str = "auto"


@dataclass(frozen=True)
class LiveConfig:
    """Cameras and streams (RTSP, live HTTP/HLS, webcams): transport, reconnection, frame policy."""

    rtsp_transport: str = "tcp"  # tcp | udp
    buffer: int = 1  # newest frames kept per live source; older ones are dropped (and counted)
    stall_s: float = 2.0  # no frame for this long while connected: health "stalled"
    reconnect_initial_s: float = 0.5  # first wait after a failure; doubles per failure
    reconnect_max_s: float = 10.0  # the wait never exceeds this
    reconnect_jitter: float = 0.2  # each wait is randomised by +-20 % so cameras do not retry in step
    max_retries: int = -1  # failed attempts in a row before the source fails; -1 = retry forever
    decoder_threads: int = 1  # per RTSP/RTMP/SRT stream; 0 = FFmpeg's choice (frame threads: +1 frame each)


@dataclass(frozen=True)
class TrackConfig:
    """``--track``: an identity per object and source, kept across frames by Ultralytics' trackers."""

    tracker: str | None = None  # bytetrack | botsort; None = off (zones and lines turn bytetrack on)
    match: str = "box"  # box: associate by box IoU (Ultralytics' way); mask: by mask IoU, for crowds
    lost_s: float = 1.0  # a track unseen this long (seconds of the stream, not frames) is ended


@dataclass(frozen=True)
class EventsConfig:
    """Where events (appeared, left, entered, exited, loitering, crossed) go; a sink that is slow or down
    never stalls a frame: each has a bounded queue (``queue``), and what overflows is dropped and counted."""

    file: str | None = None  # --events: JSON lines
    mqtt: str | None = None  # --mqtt mqtt://[user:pass@]host[:1883][/prefix]
    webhooks: tuple[str, ...] = ()  # --webhook URL (several allowed): each event POSTed as JSON
    snapshots: str | None = None  # --snapshots DIR: annotated frame and best crop per event
    snapshots_max: int = 1000  # snapshot files (frames and crops) kept; the oldest go first
    queue: int = 1000  # events waiting per sink


@dataclass(frozen=True)
class DashboardConfig:
    """``--dashboard``: live page, Prometheus /metrics and health probes served from the run."""

    listen: str | None = None  # [HOST:]PORT, e.g. 8080 or 0.0.0.0:8080; None = no dashboard
    token: str | None = None  # required off loopback (or set STREAMSEG_DASHBOARD_TOKEN)
    allowed_hosts: tuple[str, ...] = ()  # names it is reached by besides loopback and its own address
    preview_fps: float = 2.0  # most preview JPEGs per second per source (made only while watched)
    preview_width: int = 640  # previews are downscaled to at most this width
    live_viewers: int = 16  # live video (H.264 over a WebSocket) viewers at once, all sources; 0: JPEGs only
    live_viewers_per_source: int = 4  # ... and of any one source, so one source cannot take every slot
    history_s: int = 300  # seconds of chart history kept
    max_connections: int = 128  # connections at once; past it a new one gets 503 (descriptors stay bounded)
    header_timeout_s: float = 10.0  # request headers are due this long after connecting or the last answer


@dataclass(frozen=True)
class ApiConfig:
    """What ``POST /api/sources`` (the dashboard's, or the cluster's) may start."""

    file_roots: tuple[str, ...] = ()  # folders whose video files may be added; none: no local files
    # hosts a stream added through the API may reach (``config/hosts``): "*", addresses, networks, names,
    # "*.domain"; none: any, but with the dashboard off loopback never this machine's own addresses
    source_hosts: tuple[str, ...] = ()
    source_schemes: tuple[str, ...] = ()  # protocols streams may be added with (rtsp, ...); none: all


@dataclass(frozen=True)
class ClusterConfig:
    """``streamseg cluster``: how cameras are grouped and placed on the machines of a Ray cluster."""

    cameras_per_group: int = 0  # cameras per group actor; 0 = one group per GPU (per node without GPUs)
    cpus_per_group: float = 1.0  # Ray CPUs each group reserves on its node
    gpus_per_group: float = 1.0  # Ray GPUs each group reserves when model.device is cuda
    probe_s: float = 0.5  # how often the controller asks every group how it is


@dataclass(frozen=True)
class SamConfig:
    """Segment Anything in a run: refine the detector's masks, segment what is clicked on the dashboard."""

    model: str | None = None  # SAM checkpoint: sam_b.pt, mobile_sam.pt, sam2_t.pt, sam_vit_b_01ec64.pth ...
    refine: bool = False  # each frame's detections become box prompts; SAM's masks replace the detector's
    max_prompts: int = 8  # dashboard clicks kept per source (the oldest goes first)


@dataclass(frozen=True)
class LatencyConfig:
    """``--latency-budget``: what live sources give up, one rung at a time, when inference falls behind."""

    budget_ms: float | None = None  # p95 frame age of live sources to hold; None = off (files never degrade)
    min_imgsz: int = 256  # the network input never shrinks below this (nor grows above model.imgsz)
    max_stride: int = 4  # at worst every camera is processed every 4th frame; 1 = never stride
    shed_decoding: bool = True  # then decode less: no non-reference frames, then keyframes only


@dataclass(frozen=True)
class TelemetryConfig:
    """The leak watchdog: memory growth over a sliding window, and one warning when it stays high."""

    leak_warn_mib_per_hour: float = 20.0  # warn when RSS (or GPU memory) grows faster; 0 = never warn
    leak_window_s: float = 1800.0  # the slope is taken over this long (and warned on only once it is full)
