"""What every task model shares: an engine, a model config, and letterbox preprocessing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from ..engines import Engine
from ..errors import InvalidInputError, ModelContractError

SizeLike = Union[int, Tuple[int, int], Sequence[int], None]


@dataclass(frozen=True)
class ModelConfig:
    """Contract of a loaded model, from its manifest, its ``.edgecv.json`` metadata, or defaults.

    ``input``: ``name``, ``size`` [H, W], ``color`` ("RGB"/"BGR"), ``mean``, ``std`` (per channel,
    in pixel units). ``outputs``: task-specific (e.g. SCRFD ``strides``, ``num_anchors``).
    """

    name: str = ""
    task: str = ""
    input: Dict[str, Any] = field(default_factory=dict)
    outputs: Dict[str, Any] = field(default_factory=dict)
    #: weights stored in half precision (converted with --fp16)
    fp16: bool = False
    #: static shape of each input, as the converter recorded it (engines like ncnn report none)
    input_shapes: Dict[str, Any] = field(default_factory=dict)


def parse_size(size: SizeLike, what: str = "input_size") -> Optional[Tuple[int, int]]:
    """``640`` or ``(H, W)`` -> ``(H, W)``; None stays None."""
    if size is None:
        return None
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        try:
            h, w = (int(v) for v in size)
        except (TypeError, ValueError):
            raise InvalidInputError(f"{what} must be an int or (height, width), got {size!r}") from None
    if h <= 0 or w <= 0:
        raise InvalidInputError(f"{what} must be positive, got {h}x{w}")
    return h, w


def letterbox_scale(image_hw: Tuple[int, int], input_hw: Tuple[int, int]) -> Tuple[int, int]:
    """Size (h, w) of the image resized to fit ``input_hw`` with its aspect ratio kept."""
    ih, iw = image_hw
    s = min(input_hw[0] / ih, input_hw[1] / iw)
    return max(1, min(input_hw[0], int(round(ih * s)))), max(1, min(input_hw[1], int(round(iw * s))))


class TaskModel:
    """Base of task models: ``engine`` plus the model ``config``. Subclasses implement ``detect``."""

    task: ClassVar[str] = ""

    def __init__(self, engine: Engine, config: ModelConfig) -> None:
        self.engine = engine
        self.config = config
        self.input_name = self._bind_input()

    def _bind_input(self) -> str:
        wanted = self.config.input.get("name")
        names = self.engine.input_names
        if wanted:
            if wanted not in names:
                raise ModelContractError(
                    f"model input '{wanted}' is missing; the model's inputs are {names}")
            return wanted
        if len(names) != 1:
            raise ModelContractError(f"{self.task} expects one input, the model has {names}")
        return names[0]

    def static_input_size(self) -> Optional[Tuple[int, int]]:
        """(H, W) when the model fixes its input size (NCHW with static H and W), else None."""
        shape = self.engine.input_info(self.input_name).shape
        if shape is not None and len(shape) == 4 and shape[2] and shape[3]:
            return int(shape[2]), int(shape[3])
        return None

    def input_contract(self) -> Dict[str, Any]:
        """The task's default input contract overridden by the model's manifest/metadata; sets the
        normalisation used by :meth:`pack` (``mean``, ``std``, ``swap_rb``)."""
        from ..contracts import default_input

        inp = {**default_input(self.task), **self.config.input}
        self.mean = tuple(float(v) for v in inp["mean"])
        self.std = tuple(float(v) for v in inp["std"])
        self.swap_rb = str(inp["color"]).upper() == "RGB"
        return inp

    def pack(self, image: np.ndarray, input_hw: Tuple[int, int], resized_hw: Tuple[int, int],
             pad_pixel: int) -> Tuple[np.ndarray, Tuple[float, float]]:
        """Resize ``image`` to ``resized_hw`` (bilinear), place it top-left in an ``input_hw`` tensor padded
        with ``pad_pixel``, normalise; returns the (1, 3, H, W) tensor and (scale_x, scale_y) image->input."""
        import cv2

        from ..native import core

        nh, nw = resized_hw
        ih, iw = image.shape[:2]
        resized = image if (nh, nw) == (ih, iw) else cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        blob = core.pack_image(resized, (input_hw[1], input_hw[0]), self.mean, self.std, self.swap_rb, pad_pixel)
        return blob, (nw / iw, nh / ih)

    @classmethod
    def matches(cls, output_names: Sequence[str]) -> bool:
        """Whether a model with these outputs looks like this task (used when no metadata says)."""
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.engine.describe()})"
