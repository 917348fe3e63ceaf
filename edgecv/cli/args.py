"""Typed argparse converters, each named for what it parses, and the arguments several commands share.

A converter raises ``argparse.ArgumentTypeError``, so a bad value is argparse's one-line usage error (exit 2)
naming the flag, before any work starts.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import List, Tuple, Union


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r:.40}") from None


def thread_count(text: str) -> int:
    """Engine threads: a whole number from 1 to 4 per CPU core."""
    from ..engines import max_threads

    value = _integer(text)
    if not 1 <= value <= max_threads():
        raise argparse.ArgumentTypeError(f"threads must be in 1..{max_threads()} (4 per CPU core), got {value}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1 (workers, every N-th frame, rows per shard, views)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def port_number(text: str) -> int:
    """A TCP port, 0..65535 (0: any free port)."""
    value = _integer(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is in 0..65535, got {value}")
    return value


def pixel_count(text: str) -> int:
    """A number of pixels (>= 1; the image module bounds it further)."""
    return positive_int(text)


def finite_float(text: str) -> float:
    """A finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r:.40}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r:.40}")
    return value


def seconds(text: str) -> float:
    """A duration in seconds, > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r:.40}")
    return value


def int_list(text: str) -> List[int]:
    """Comma-separated whole numbers (``1,2,4``)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r:.40}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


def thread_counts(text: str) -> List[int]:
    """Comma-separated thread counts (``1,2``)."""
    return [thread_count(str(v)) for v in int_list(text)]


def view_list(text: str) -> List[int]:
    """Comma-separated view numbers of a scene (>= 0)."""
    values = int_list(text)
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"view numbers are >= 0, got {text!r:.40}")
    return values


def input_size(text: str) -> Union[int, Tuple[int, int]]:
    """A network input size: ``N`` or ``HxW``."""
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r:.40}") from None
    if len(parts) not in (1, 2) or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r:.40}")
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])


def engine_list(text: str) -> Tuple[str, ...]:
    """Comma-separated engines of the engine table (aliases allowed: ``onnx``, ``ov``)."""
    from ..errors import InvalidInputError
    from ..targets import parse_targets

    try:
        return parse_targets(text)
    except InvalidInputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def precision_list(text: str) -> List[str]:
    """Comma-separated precisions of fp32, fp16, int8."""
    values = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in values if p not in ("fp32", "fp16", "int8")]
    if not values or bad:
        raise argparse.ArgumentTypeError(f"precisions are fp32, fp16, int8; got {text!r:.40}")
    return values


def png_path(text: str) -> Path:
    """A path ending in .png."""
    path = Path(text)
    if path.suffix.lower() != ".png":
        raise argparse.ArgumentTypeError(f"writes a PNG: give a .png file, got {text!r:.60}")
    return path


# -- arguments several commands share -----------------------------------------------------------------------------
def model_args(p: argparse.ArgumentParser, default_model: str, threads: bool = True) -> None:
    """--model, --engine (the engine table's names, or auto), --threads and --trust."""
    from ..targets import ENGINE_NAMES

    p.add_argument("--model", "-m", default=default_model,
                   help="model name (see `edgecv info`) or an engine's model file (default: %(default)s)")
    p.add_argument("--engine", "-e", choices=ENGINE_NAMES + ("auto",),
                   help="inference engine (default: onnxruntime for names, the file's engine for paths); auto: "
                        "the fastest that passed its gates in this device's profile (edgecv bench)")
    if threads:
        p.add_argument("--threads", "-t", type=thread_count, help="engine threads (default: CPU cores, at most 4)")
    trust_arg(p)


def trust_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust", action="store_true", help="skip the child-process check of model files no "
                   "manifest vouches for (also EDGECV_TRUST_MODELS=1)")


def max_pixels_arg(p: argparse.ArgumentParser) -> None:
    from ..image import ENV_MAX_PIXELS, MAX_PIXELS

    p.add_argument("--max-pixels", type=pixel_count, metavar="N",
                   help=f"largest image decoded, in pixels (default: {ENV_MAX_PIXELS}, else {MAX_PIXELS:,}); "
                        "larger ones are refused before decoding")


def scene_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--depth-format", choices=["auto", "interval"], default="auto",
                   help="cam files' depth line: auto (MIN MAX, or MIN INTERVAL N [MAX]) or interval (MIN "
                        "INTERVAL with 192 planes, as DTU writes it)")
    p.add_argument("--scale-intrinsics", action="store_true",
                   help="scale each camera's intrinsics to its image when they describe another size")


def json_arg(p: argparse.ArgumentParser, what: str = "the result") -> None:
    p.add_argument("--json", action="store_true", help=f"print {what} as JSON on stdout")


def truth_args(p: argparse.ArgumentParser, judged: str) -> None:
    """--eval DATA and its companions (format, labels, limit, --max-drop): judge by a labelled dataset's metric;
    ``judged`` says what the drop decides ("a candidate passes", "each row passes")."""
    from ..evaluate.datasets import FORMATS

    p.add_argument("--eval", type=Path, metavar="DATA", help="judge by a labelled dataset (see edgecv eval) instead of "
                   f"agreement with ONNX Runtime fp32: {judged} when its metric drops by at most --max-drop")
    p.add_argument("--eval-format", choices=FORMATS, help="--eval's format (default: told from the files)")
    p.add_argument("--eval-labels", type=Path, help="--eval's ground truth when it is not in the folder")
    p.add_argument("--eval-limit", type=positive_int, help="--eval: the first N images only")
    p.add_argument("--max-drop", "--max-ap-drop", type=finite_float, default=0.01,
                   help="--eval: the largest drop of the dataset metric allowed (default %(default)s)")


def truth_judge(args: argparse.Namespace):
    """The :class:`edgecv.evaluate.TruthJudge` of the --eval flags, or None without --eval."""
    if args.eval is None:
        return None
    from ..evaluate import TruthJudge

    return TruthJudge(args.eval, format=args.eval_format, labels=args.eval_labels, limit=args.eval_limit)

