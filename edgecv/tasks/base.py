"""The pipeline protocol every task follows: ``prepare`` inputs -> engine (``infer``) -> ``postprocess``
-> typed result. ``detect`` is those three calls; streams, batch jobs and the service drive the stages
separately (e.g. post-processing of frame k while the engine runs frame k+1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, Generic, Iterator, List, Optional, Tuple, TypeVar

import numpy as np

from ..engines import Engine
from ..errors import InvalidInputError, ModelContractError
from ..image import ImageLike, as_bgr_image
from ..store.metadata import ModelConfig
from .spec import Option, resolve_options

ResultT = TypeVar("ResultT")

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
    options: ClassVar[Tuple[Option, ...]] = ()
    #: peak memory per network input pixel, measured on the hungriest engine (see README "Bad input")
    bytes_per_input_pixel: ClassVar[float] = 512.0
    #: input contract defaults: colour order, per-channel mean/std in pixel units, default size (H, W)
    default_input: ClassVar[Dict[str, Any]] = {}

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

    def detect(self, inputs: Any, **options: Any) -> ResultT:
        """Run the whole pipeline on one input; ``options`` override the model's per-call options."""
        prepared = self.prepare(inputs, **options)
        return self.postprocess(self.infer(prepared), prepared)

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


class ImageTaskModel(TaskModel[ResultT]):
    """A task whose input is one BGR image: letterbox/resize into the network input, normalise, pack."""

    def __init__(self, engine: Engine, config: Optional[ModelConfig] = None, **options: Any) -> None:
        super().__init__(engine, config, **options)
        self.input_name = self._bind_input()

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
        """Mean/std/colour order used by :meth:`pack`, from the task's input contract."""
        self.mean = tuple(float(v) for v in contract["mean"])
        self.std = tuple(float(v) for v in contract["std"])
        self.swap_rb = str(contract["color"]).upper() == "RGB"

    def network_size(self, image_hw: Tuple[int, int]) -> Tuple[Tuple[int, int], Tuple[int, int]]:
        """(network input (H, W), resized image (h, w)) for an image of size ``image_hw``."""
        raise NotImplementedError

    pad_pixel: int = 0

    def pack(self, image: np.ndarray, input_hw: Tuple[int, int], resized_hw: Tuple[int, int]
             ) -> Tuple[np.ndarray, Tuple[float, float]]:
        """Resize ``image`` to ``resized_hw`` (bilinear), place it top-left in an ``input_hw`` tensor padded
        with ``pad_pixel``, normalise; returns the (1, 3, H, W) tensor and (scale_x, scale_y) image->input."""
        import cv2

        from ..native import core

        check_input_budget(input_hw[0] * input_hw[1], self.bytes_per_input_pixel,
                           f"a {input_hw[0]}x{input_hw[1]} {self.task} input", "resize the image or choose a "
                           "smaller input size")
        nh, nw = resized_hw
        ih, iw = image.shape[:2]
        if (nh, nw) != (ih, iw):
            resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        elif image.strides[2] != 1 or image.strides[1] != 3 or image.strides[0] < 3 * iw:
            resized = np.ascontiguousarray(image)  # any numpy layout: the core reads packed rows
        else:
            resized = image
        blob = core.pack_image(resized, (input_hw[1], input_hw[0]), self.mean, self.std, self.swap_rb,
                               self.pad_pixel)
        return blob, (nw / iw, nh / ih)

    def sample_input(self) -> np.ndarray:
        """A 240x320 BGR gradient."""
        y, x = np.mgrid[0:240, 0:320]
        return np.dstack([x % 256, y % 256, (x + y) % 256]).astype(np.uint8)

    def prepare(self, inputs: ImageLike, **options: Any) -> Prepared:
        image = as_bgr_image(inputs)
        values = self.call_options(options)
        input_hw, resized_hw = self.network_size(image.shape[:2])
        blob, scale = self.pack(image, input_hw, resized_hw)
        return Prepared({self.input_name: blob}, values, {"scale": scale, "image_hw": image.shape[:2]})

