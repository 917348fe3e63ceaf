"""The pipeline protocol every task follows: ``prepare`` inputs -> engine (``infer``) -> ``postprocess``
-> typed result. ``detect`` is those three calls; streams, batch jobs and the service drive the stages
separately (e.g. post-processing of frame k while the engine runs frame k+1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import os
from typing import Any, ClassVar, Dict, Generic, Iterator, List, Optional, Protocol, Tuple, TypeVar, runtime_checkable

import numpy as np

from ..engines import Engine
from ..errors import InvalidInputError, ModelContractError
from ..frames import FORMATS, ROTATIONS, FrameGeometry, layout_for_core, stored_size, to_bgr
from ..image import as_bgr_image
from ..native import core
from ..store.metadata import ModelConfig
from ..streams.sources import DEFAULT_TIMEOUT
from .input_buffers import InputBuffers, Lease
from .spec import IMAGE, Option, resolve_options



@runtime_checkable
class TaskResult(Protocol):
    """What every task's result offers, and all that streams, batch, serve and the CLI use of it: how many items it
    holds (faces, people, valid depth pixels), a JSON-ready dict (with ``count``), and a drawing (over ``image``, the
    frame it was computed on; results that carry their own picture, such as depth maps, draw without one)."""

    def __len__(self) -> int: ...

    def to_dict(self) -> Dict[str, Any]: ...

    def draw(self, image: Any, copy: bool = True) -> np.ndarray: ...


ResultT = TypeVar("ResultT", bound=TaskResult)

#: Memory budget of one call (bytes): network input sizes from options, metadata or an image's aspect ratio
#: whose estimated peak memory (the task's measured bytes per input pixel on the hungriest engine) would
#: pass it are refused with a hint to resize. EDGECV_MEMORY_BUDGET_MB overrides it.
MEMORY_BUDGET = 2 << 30
ENV_BUDGET = "EDGECV_MEMORY_BUDGET_MB"


@dataclass
class Prepared:
    """A prepared call: the engine ``feeds`` (input name -> float32 array), the option values for this call,
    and whatever the task's post-processing needs (``context``: scales, sizes, cameras...)."""

    feeds: Dict[str, np.ndarray]
    options: Dict[str, Any]
    context: Dict[str, Any] = field(default_factory=dict)


class ItemsMixin:
    """Sequence behaviour of a result whose items are indexed by ``scores``."""

    scores: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self[i]  # type: ignore[index]


class FrameResultMixin:
    """Results of image tasks: in the coordinates of the frame as given (``frame``: its format, rotation and
    size); ``mapped(fn)`` moves every point, ``upright()`` maps them to the upright picture."""

    frame: Any

    def mapped(self, fn: Any) -> Any:
        raise NotImplementedError

    def upright(self) -> Any:
        """The result in the coordinates of the upright picture (the network's view of a rotated frame)."""
        from dataclasses import replace

        if self.frame is None or not self.frame.rotation:
            return self
        return replace(self.mapped(self.frame.to_upright), frame=replace(self.frame, rotation=0,
                                                                          size=self.frame.upright_size))


def letterbox_scale(image_hw: Tuple[int, int], input_hw: Tuple[int, int]) -> Tuple[int, int]:
    """Size (h, w) of the image resized to fit ``input_hw`` with its aspect ratio kept."""
    ih, iw = image_hw
    s = min(input_hw[0] / ih, input_hw[1] / iw)
    return max(1, min(input_hw[0], int(round(ih * s)))), max(1, min(input_hw[1], int(round(iw * s))))


def memory_budget() -> int:
    import os

    value = os.environ.get(ENV_BUDGET)
    return int(float(value) * 2**20) if value else MEMORY_BUDGET


def check_input_budget(pixels: float, bytes_per_pixel: float, what: str, hint: str) -> None:
    """Refuse a call whose network input of ``pixels`` (all views) would need more than the memory budget."""
    need = float(pixels) * bytes_per_pixel
    budget = memory_budget()
    if need > budget:
        raise InvalidInputError(
            f"{what} needs about {need / 2**30:.1f} GiB (~{bytes_per_pixel:.0f} bytes per network input pixel), "
            f"more than the {budget / 2**30:.1f} GiB budget ({ENV_BUDGET}); {hint}")


class TaskModel(Generic[ResultT]):
    """A loaded model of one task: ``engine`` + ``config`` + option values (``settings``).

    Subclasses set ``task`` and ``options`` and implement ``prepare`` and ``postprocess`` (and the output
    binding); ``detect`` is implemented here, once.
    """

    task: ClassVar[str] = ""
    #: the kind of input: IMAGE (an image or camera frame) or VIEWS (several views of a scene with cameras)
    input_kind: ClassVar[str] = IMAGE
    options: ClassVar[Tuple[Option, ...]] = ()
    #: peak memory per network input pixel, measured on the hungriest engine (see README "Bad input")
    bytes_per_input_pixel: ClassVar[float] = 512.0
    #: input contract defaults: colour order, per-channel mean/std in pixel units, default size (H, W)
    default_input: ClassVar[Dict[str, Any]] = {}
    #: the option that sets the network input size (what ``edgecv bench --input-sizes`` varies), if any
    size_option: ClassVar[Optional[str]] = None

    def __init__(self, engine: Engine, config: Optional[ModelConfig] = None, **options: Any) -> None:
        self.engine = engine
        self.config = config or ModelConfig(task=self.task)
        self.settings: Dict[str, Any] = resolve_options(self.options, options, self.task)

    # -- the pipeline --------------------------------------------------------------------------
    def prepare(self, inputs: Any, **options: Any) -> Prepared:
        """Check ``inputs`` and the per-call ``options``; build the engine feeds."""
        raise NotImplementedError

    def infer(self, prepared: Prepared) -> Dict[str, np.ndarray]:
        """Run the engine on prepared feeds; returns the bound outputs by name."""
        return self.engine.run(prepared.feeds, self.output_names)

    def postprocess(self, outputs: Dict[str, np.ndarray], prepared: Prepared) -> ResultT:
        """Raw engine outputs -> the task's result."""
        raise NotImplementedError

    def sample_input(self) -> Any:
        """A valid input for this model (what the child-process check of an unknown file runs)."""
        raise NotImplementedError

    def run_engine(self, inputs: Any, **options: Any) -> Tuple[Dict[str, np.ndarray], Prepared]:
        """``prepare`` then ``infer``: (engine outputs, the prepared call without its feeds, which tasks may
        reuse once the engine has returned)."""
        prepared = self.prepare(inputs, **options)
        return self.infer(prepared), prepared

    def detect(self, inputs: Any, **options: Any) -> ResultT:
        """Run the whole pipeline on one input; ``options`` override the model's per-call options."""
        outputs, prepared = self.run_engine(inputs, **options)
        return self.postprocess(outputs, prepared)

    def stream(self, source: Any, *, track: bool = False, live: Optional[bool] = None, reconnect: bool = False,
               queue_size: int = 4, tracker: Optional[Dict[str, Any]] = None, timeout: float = DEFAULT_TIMEOUT,
               max_pixels: Optional[int] = None, **options: Any):
        """Run the model over a stream of inputs, pipelined (read/decode, prepare + engine, post-process + track on
        their own threads); iterate the returned :class:`edgecv.streams.Stream` for items with ``index``,
        ``frame``, ``result`` and ``captured_at``.

        ``source``: a video file, a camera (``0``, ``"camera:0"``, ``"/dev/video0"``), an RTSP/HTTP URL, an image
        folder or glob, or an iterable of frames (in ``format``). ``live``: keep only the newest frame when
        inference is slower than the source (default: True for cameras and URLs). ``reconnect``: reopen a dropped
        URL with backoff instead of raising SourceError. ``timeout``: seconds a URL may take to open or between two
        frames before it is a SourceError. ``max_pixels``: largest frame or image read (default: the
        ``EDGECV_MAX_PIXELS`` limit, 40 MP). ``track``: stable ids (``result.track_ids``); ``tracker``: tracker
        settings (``edgecv.tracking.PARAMS``). ``options``: per-call options of the task (``format``,
        ``rotation``, thresholds...)."""
        from ..streams import Stream

        if not isinstance(queue_size, int) or isinstance(queue_size, bool) or not 1 <= queue_size <= 256:
            raise InvalidInputError(f"queue_size must be an integer in [1, 256], got {queue_size!r:.40}")
        for name, flag in (("track", track), ("reconnect", reconnect)):
            if not isinstance(flag, bool):
                raise InvalidInputError(f"{name} must be True or False, got {flag!r:.40}")
        if live is not None and not isinstance(live, bool):
            raise InvalidInputError(f"live must be True, False or None, got {live!r:.40}")
        values = self.call_options(options)
        src = self.stream_source(source, live=live, reconnect=reconnect, timeout=timeout, max_pixels=max_pixels)
        call = dict(options)
        follow = None
        if track:
            follow = self.tracker(frame_rate=src.fps or 30.0, **(tracker or {}))
            call.update(self.tracking_options(values))
        return Stream(self, src, options=call, item_options=self.stream_item_options, tracker=follow,
                      queue_size=queue_size, format=values.get("format") if self.input_kind == IMAGE else None)

    def stream_source(self, source: Any, live: Optional[bool], reconnect: bool, timeout: float = DEFAULT_TIMEOUT,
                      max_pixels: Optional[int] = None):
        """The frame source of a stream (image tasks: video, camera, URL, folder, iterable)."""
        from ..streams import open_source

        return open_source(source, live=live, reconnect=reconnect, timeout=timeout, max_pixels=max_pixels)

    def stream_item_options(self, index: int) -> Dict[str, Any]:
        """Extra per-call options for the stream item at ``index`` (MVS: its reference view)."""
        return {}

    def tracker(self, frame_rate: float = 30.0, **params: Any):
        """A tracker for this model's results (``edgecv.tracking.Tracker``), for one stream."""
        raise InvalidInputError(f"{self.task} results cannot be tracked")

    def tracking_options(self, values: Dict[str, Any]) -> Dict[str, Any]:
        """Per-call options while tracking (e.g. a lower detection threshold for the tracker's second stage)."""
        return {}

    # -- helpers ---------------------------------------------------------------------------------
    @property
    def output_names(self) -> List[str]:
        """Outputs the post-processing reads, bound by name at load time."""
        raise NotImplementedError

    @classmethod
    def default_contract(cls) -> Dict[str, Any]:
        """A fresh copy of the task's default input contract."""
        return {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in cls.default_input.items()}

    def input_contract(self) -> Dict[str, Any]:
        """The task's default input contract updated with the model's own (manifest or metadata)."""
        return {**self.default_contract(), **self.config.input}

    def call_options(self, options: Dict[str, Any]) -> Dict[str, Any]:
        """This call's option values: the model's settings overridden by ``options`` (checked)."""
        return resolve_options(self.options, options, self.task, per_call=True, base=self.settings) \
            if options else self.settings

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.engine.describe()})"


#: Per-call options of every image task: the frame's pixel format and rotation.
FRAME_OPTIONS = (
    Option("format", "choice", "bgr", "pixel format of array inputs: " + " ".join(FORMATS) + " (YUV 4:2:0: a "
           "(H*3/2, W) array)", choices=FORMATS, cli=False),
    Option("rotation", "choice", 0, "degrees the frame must be turned clockwise to be upright (0, 90, 180, 270; "
           "Android's rotationDegrees); results come back in the frame's coordinates", choices=ROTATIONS),
)


def core_resizes(bgr: np.ndarray) -> bool:
    """Whether ``core.prepare_frame`` resizes this (H, W, 3) uint8 BGR array itself, with SIMD, in its pack pass: the
    same values as cv2.resize (INTER_LINEAR) then the pack, without the resized copy between them (0.1-0.45 ms less
    per 640x640 input here, see docs/benchmarks.md). Else the caller resizes with OpenCV first."""
    return bool(core.FUSED_LINEAR_RESIZE) and bgr.strides[2] == 1 and (bgr.strides[1] == 3 or bgr.shape[1] == 1)


class ImageTaskModel(TaskModel[ResultT]):
    """A task whose input is one image or camera frame: format conversion, rotation to upright, letterbox or
    resize into the network input, normalisation and packing in one C++ pass (``_core.prepare_frame``)."""

    #: padding value of the network input, in raw pixel units (normalised like pixels)
    pad_pixel: int = 0

    def __init__(self, engine: Engine, config: Optional[ModelConfig] = None, **options: Any) -> None:
        super().__init__(engine, config, **options)
        self.input_name = self._bind_input()
        self._input_buffers = InputBuffers(allocate=engine.new_input)

    def _bind_input(self) -> str:
        wanted = self.config.input.get("name")
        names = self.engine.input_names
        if wanted:
            if wanted not in names:
                raise ModelContractError(f"model input '{wanted}' is missing; the model's inputs are {names}")
            return wanted
        if len(names) != 1:
            raise ModelContractError(f"{self.task} expects one image input, the model has {names}")
        return names[0]

    def static_input_size(self) -> Optional[Tuple[int, int]]:
        """(H, W) when the model fixes its input size (NCHW with static H and W), else None."""
        shape = self.engine.input_info(self.input_name).shape
        if shape is not None and len(shape) == 4 and shape[2] and shape[3]:
            return int(shape[2]), int(shape[3])
        return None

    def set_normalisation(self, contract: Dict[str, Any]) -> None:
        """Mean/std/colour order of the network input, from the task's input contract."""
        self.mean = tuple(float(v) for v in contract["mean"])
        self.std = tuple(float(v) for v in contract["std"])
        self.swap_rb = str(contract["color"]).upper() == "RGB"

    def network_size(self, image_hw: Tuple[int, int]) -> Tuple[Tuple[int, int], Tuple[int, int]]:
        """(network input (H, W), resized image (h, w)) for an upright image of size ``image_hw``."""
        raise NotImplementedError

    def sample_input(self) -> np.ndarray:
        """A 240x320 BGR gradient."""
        y, x = np.mgrid[0:240, 0:320]
        return np.dstack([x % 256, y % 256, (x + y) % 256]).astype(np.uint8)

    def prepare(self, inputs: Any, **options: Any) -> Prepared:
        """A BGR image (array or path) or a camera frame of ``format``, turned upright by ``rotation``."""
        return self._prepare(inputs, options, None)

    def run_engine(self, inputs: Any, **options: Any) -> Tuple[Dict[str, np.ndarray], Prepared]:
        """``prepare`` into a network input array reused from call to call (see :mod:`.input_buffers`), then
        ``infer``; the array goes back to the pool once the engine has returned."""
        with self._input_buffers.borrow() as lease:
            prepared = self._prepare(inputs, options, lease)
            outputs = self.infer(prepared)
            prepared.feeds = {}
        return outputs, prepared

    def _prepare(self, inputs: Any, options: Dict[str, Any], lease: Optional[Lease]) -> Prepared:
        values = self.call_options(options)
        fmt, rotation = values["format"], values["rotation"]
        if fmt == "bgr" or isinstance(inputs, (str, os.PathLike)):
            if fmt != "bgr":
                raise InvalidInputError(f"a path is read as a BGR image; format={fmt!r} is for frame arrays")
            frame = as_bgr_image(inputs)
        else:
            frame = inputs
        geometry = FrameGeometry(fmt, rotation, stored_size(frame, fmt))
        up_h, up_w = geometry.upright_size
        (nh, nw), (rh, rw) = self.network_size((up_h, up_w))
        check_input_budget(nh * nw, self.bytes_per_input_pixel, f"a {nh}x{nw} {self.task} input",
                           "resize the image or choose a smaller input size")
        if rotation:  # one C++ pass: convert, turn upright, resize, normalise, pack (no full-size copy)
            source, source_fmt = layout_for_core(frame, fmt), fmt
        else:  # OpenCV's SIMD convert, then the C++ resize + pack: faster here than the float pass above
            source, source_fmt = to_bgr(frame, fmt), "bgr"
            if (rh, rw) != (up_h, up_w) and not core_resizes(source):
                import cv2

                source = cv2.resize(source, (rw, rh), interpolation=cv2.INTER_LINEAR)
        def pack(**into: Any) -> np.ndarray:
            return core.prepare_frame(source, source_fmt, rotation, (nw, nh), (rw, rh), self.mean, self.std,
                                      self.swap_rb, self.pad_pixel, **into)

        blob = pack() if lease is None else lease.get((1, 3, nh, nw)).fill(
            (rw, rh, self.mean, self.std, self.swap_rb, self.pad_pixel), pack)
        return Prepared({self.input_name: blob}, values, {"scale": (rw / up_w, rh / up_h), "image_hw": (up_h, up_w),
                                                          "geometry": geometry, "frame": frame})

    def in_frame(self, result: ResultT, prepared: Prepared) -> ResultT:
        """A result computed on the upright picture, in the coordinates of the frame as given."""
        geometry: FrameGeometry = prepared.context["geometry"]
        if geometry.rotation:
            result = result.mapped(geometry.to_frame)  # type: ignore[attr-defined]
        result.frame = geometry  # type: ignore[attr-defined]
        return result
