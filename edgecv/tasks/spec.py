"""What the rest of edgecv knows about a task: one :class:`TaskSpec` per task package.

The loader, converter, validator, CLI, streams, batch and service read a task's spec instead of naming
the task: its model class (the pipeline), result type, options with their defaults, how the converter
finds its output roles, and how ``validate`` compares two results and gates them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Type

import numpy as np

from ..errors import InvalidInputError, UnknownOptionError

#: What a task consumes: one image (or video frame) per call, or a set of calibrated views.
IMAGE, VIEWS = "image", "views"


def decimal(value: float) -> float:
    """A float32 default read from C++ as the decimal it was written as (0.4f -> 0.4)."""
    return float(f"{value:.6g}")


def size_pair(value: Any, what: str, low: int = 1, high: int = 8192) -> Tuple[int, int]:
    """``640`` or ``(H, W)`` -> ``(H, W)`` with both sides integers in [low, high]."""
    if isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{what} must be an int or (height, width), got {value!r}")
    if isinstance(value, (int, np.integer)):
        h = w = int(value)
    else:
        try:
            items = list(value)
            if len(items) != 2 or any(isinstance(v, (bool, float, str)) for v in items):
                raise TypeError
            h, w = (int(v) for v in items)
        except (TypeError, ValueError):
            raise InvalidInputError(f"{what} must be an int or (height, width), got {value!r:.60}") from None
    if not (low <= h <= high and low <= w <= high):
        raise InvalidInputError(f"{what} must be in [{low}, {high}] per side, got {h}x{w}")
    return h, w


@dataclass(frozen=True)
class Option:
    """One task option: accepted by ``edgecv.load(..., name=value)`` and, when ``per_call``, by
    ``model.detect(..., name=value)`` too. ``kind``: float, int, bool, size (N or (H, W)), choice, object."""

    name: str
    kind: str
    default: Any
    help: str
    low: Optional[float] = None
    high: Optional[float] = None
    choices: Tuple[Any, ...] = ()
    #: may be changed per call (else fixed when the model is loaded)
    per_call: bool = True
    #: offered as a command-line flag (--name-with-dashes)
    cli: bool = True
    #: None is accepted (means "automatic")
    optional: bool = False
    #: the text "auto" is accepted as well as a value of ``kind`` (the task chooses per input)
    auto: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> Any:
        """The value, typed and in range; InvalidInputError naming the option otherwise."""
        if value is None and (self.optional or self.default is None):
            return None
        if self.auto and isinstance(value, str) and value == "auto":
            return value
        bad = InvalidInputError(f"{self.name} must be {self.describe()}, got {value!r:.60}")
        if self.kind == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            raise bad
        if self.kind in ("int", "float"):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise bad
            if self.kind == "int" and not (isinstance(value, (int, np.integer)) or float(value).is_integer()):
                raise bad
            v = int(value) if self.kind == "int" else float(value)
            if (isinstance(v, float) and not math.isfinite(v)) or (self.low is not None and v < self.low) or \
                    (self.high is not None and v > self.high):
                raise bad
            return v
        if self.kind == "size":
            return size_pair(value, self.name, int(self.low or 1), int(self.high or 8192))
        if self.kind == "choice":
            if value in self.choices:
                return value
            raise bad
        return value  # "object": checked by the task

    def describe(self) -> str:
        if self.kind in ("int", "float"):
            rng = f"[{_fmt(self.low)}, {_fmt(self.high)}]" if self.low is not None and self.high is not None else (
                f">= {_fmt(self.low)}" if self.low is not None else "any")
            number = f"{'an integer' if self.kind == 'int' else 'a number'} in {rng}"
            return f"'auto' or {number}" if self.auto else number
        if self.kind == "bool":
            return "True or False"
        if self.kind == "size":
            return f"N or (H, W) with sides in [{int(self.low or 1)}, {int(self.high or 8192)}]"
        if self.kind == "choice":
            return f"one of {list(self.choices)}"
        return "an object of the documented type"

    def from_text(self, text: str, label: Optional[str] = None) -> Any:
        """Parse a value given as text (a command-line flag, or a query parameter: ``label`` names it in the
        error, default the flag)."""
        if self.auto and text.strip().lower() == "auto":
            return "auto"
        try:
            if self.kind == "int":
                return int(text)
            if self.kind == "float":
                return float(text)
            if self.kind == "bool":
                return {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}[text.lower()]
            if self.kind == "size":
                parts = [int(p) for p in text.lower().split("x")]
                return parts[0] if len(parts) == 1 else tuple(parts)
            if self.kind == "choice":
                return next(c for c in self.choices if str(c) == text)
        except (ValueError, KeyError, StopIteration, AttributeError):
            expects = "true or false (or 1/0, yes/no)" if self.kind == "bool" else self.describe()
            raise InvalidInputError(f"{label or self.flag} expects {expects}, got {text!r:.60}") from None
        return text


def _fmt(v: Optional[float]) -> str:
    return "none" if v is None else (str(int(v)) if float(v).is_integer() else f"{v:g}")


def resolve_options(table: Sequence[Option], given: Mapping[str, Any], task: str, *, per_call: bool = False,
                    base: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Values for every option in ``table``: ``base`` (or the defaults) overridden by ``given``, each checked.
    Unknown names, and load-time options given per call, are InvalidInputError naming the task's options."""
    known = {o.name: o for o in table}
    allowed = [o.name for o in table if o.per_call or not per_call]
    for name in given:
        if name not in known:
            raise UnknownOptionError(f"{name!r} is not an option of task {task}; its options: {allowed or 'none'}",
                                     option=name, task=task, allowed=allowed)
        if per_call and not known[name].per_call:
            raise InvalidInputError(f"{name!r} is fixed when a {task} model is loaded: pass it to edgecv.load(...)")
    values = dict(base) if base is not None else {o.name: o.default for o in table}
    for name, value in given.items():
        values[name] = known[name].check(value)
    return values


@dataclass(frozen=True)
class Gate:
    """One pass/fail limit on a comparison metric (``metric >= limit`` for "min", ``<=`` for "max")."""

    metric: str
    kind: str
    limit: float
    help: str

    @property
    def flag(self) -> str:
        """``--min-iou`` for metric min_iou, ``--min-recall`` for recall (kind min)."""
        name = self.metric if self.metric.startswith(self.kind + "_") else f"{self.kind}_{self.metric}"
        return "--" + name.replace("_", "-")

    @property
    def dest(self) -> str:
        return self.flag[2:].replace("-", "_")

    def passes(self, value: Optional[float], limit: Optional[float] = None) -> bool:
        limit = self.limit if limit is None else limit
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        return value >= limit if self.kind == "min" else value <= limit

    def explain(self, value: float, limit: Optional[float] = None) -> str:
        limit = self.limit if limit is None else limit
        return f"{self.metric} {value:.4g} {'<' if self.kind == 'min' else '>'} {limit:g}"


def ratio(part: float, whole: float) -> float:
    """part / whole, 1.0 when there is nothing to find (0 / 0)."""
    return 1.0 if whole == 0 else part / whole


def match_counts(reference: int, other: int, matched: int) -> Dict[str, Any]:
    """Counts of a one-to-one matching of found items against reference items, with recall, precision and
    their harmonic mean f1 (1.0 when neither side found anything)."""
    return {"reference": reference, "other": other, "matched": matched, "missing": reference - matched,
            "extra": other - matched, "recall": ratio(matched, reference), "precision": ratio(matched, other),
            "f1": ratio(2 * matched, reference + other)}


def summarize_counts(rows: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """match_counts over many inputs: counts summed, recall and precision over all items."""
    return match_counts(*(sum(r[k] for r in rows) for k in ("reference", "other", "matched")))


def weighted_mean(rows: Sequence[Mapping[str, Any]], key: str, weight: str) -> float:
    """Mean of ``key`` over rows weighted by ``weight`` (1.0 when every weight is 0)."""
    total = sum(r[weight] for r in rows)
    return 1.0 if total == 0 else sum(r[key] * r[weight] for r in rows) / total


@dataclass
class RolePlan:
    """What the converter does to a model's outputs: renames, channel splits and output metadata."""

    renames: Dict[str, str] = field(default_factory=dict)
    #: old output -> [(new name, first channel, end channel)] to split along axis 1
    splits: Dict[str, List[Tuple[str, int, int]]] = field(default_factory=dict)
    outputs: Dict[str, Any] = field(default_factory=dict)


def describe_shapes(shapes: Mapping[str, Sequence[int]]) -> str:
    """``name: [d0, d1, ...], ...`` for error messages."""
    return ", ".join(f"{n}: {list(s)}" for n, s in shapes.items())


@dataclass(frozen=True)
class GraphFacts:
    """What the converter measured on an ONNX graph, for role inference: each output's shape at the chosen
    input size, and which outputs come (through reshapes only) from a Sigmoid."""

    shapes: Dict[str, Tuple[int, ...]]
    input_hw: Tuple[int, int]
    sigmoid_outputs: frozenset = frozenset()


@dataclass(frozen=True)
class TaskSpec:
    """A task as the rest of edgecv sees it. One per task package, listed once in ``edgecv.tasks``."""

    name: str
    title: str
    #: the pipeline (a TaskModel subclass)
    model: Type[Any]
    #: the result dataclass detect() returns
    result: Type[Any]
    #: what a result counts, singular and plural ("face", "faces")
    nouns: Tuple[str, str]
    #: whether a model with these output names is one of this task's (used when no metadata says)
    matches: Callable[[Sequence[str]], bool]
    #: validate: (reference result, other result) -> metrics of one input
    compare: Callable[[Any, Any], Dict[str, Any]]
    #: validate: metrics of many inputs -> overall metrics (same keys as compare's)
    summarize: Callable[[List[Dict[str, Any]]], Dict[str, Any]]
    #: converter: GraphFacts -> RolePlan (None: outputs keep their names)
    roles: Optional[Callable[[GraphFacts], RolePlan]] = None
    #: profile -> gates. "convert": every input must pass (engines of one model agree);
    #: "quantize": the overall metrics must pass (a lower-precision model against its fp32 reference)
    gates: Mapping[str, Tuple[Gate, ...]] = field(default_factory=dict)
    #: whether validate also gates raw outputs by absolute difference (profile convert). False for models
    #: whose raw outputs legitimately differ between engines and graph variants beyond float noise
    #: (PatchmatchNet's iterative search: depth within 1 %, confidence within a few %); they are gated at
    #: task level only, the raw differences still reported.
    raw_gate: bool = True
    #: the summary metric reported as "agreement" with an fp32 reference (edgecv bench), in [0, 1]
    agreement: str = "f1"
    #: quantisation: fewest inputs to calibrate on and to judge on (held out); the task's own inputs
    #: (images, or reference views of a scene)
    min_calibration: Tuple[int, int] = (16, 4)
    #: what calibration inputs should show, said when a calibration folder is too small ("" for the generic advice)
    calibration_advice: str = ""

    @property
    def inputs(self) -> str:
        """The kind of input the task's models take: IMAGE (one image or camera frame) or VIEWS (several views of a
        scene with their cameras); the model class declares it (``TaskModel.input_kind``)."""
        return self.model.input_kind

    @property
    def options(self) -> Tuple[Option, ...]:
        return tuple(self.model.options)

    @property
    def default_input(self) -> Dict[str, Any]:
        """Input contract defaults (a fresh dict): colour order, per-channel mean/std, default size (H, W)."""
        return self.model.default_contract()

    def gate_limits(self, profile: str, limits: Optional[Mapping[str, float]] = None) -> Dict[str, float]:
        """Gate metric -> limit for ``profile``: the spec's, overridden by ``limits`` (each finite)."""
        gates = {g.metric: g for g in self.gates.get(profile, ())}
        out = {m: g.limit for m, g in gates.items()}
        for metric, value in (limits or {}).items():
            if value is None:
                continue
            if metric not in gates:
                raise InvalidInputError(f"{metric} is not a {profile} gate of {self.name} models; "
                                        f"their {profile} gates: {sorted(gates)}")
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise InvalidInputError(f"the limit of {metric} must be a finite number, got {value!r}")
            out[metric] = float(value)
        return out

    def gate_shortfall(self, row: Mapping[str, Any], profile: str, limits: Mapping[str, float]) -> float:
        """How far ``row`` is from passing the gates of ``profile``: the sum over failing gates of their relative
        gap (0.0 when every gate holds, more negative the further off; -inf for a missing or NaN metric)."""
        total = 0.0
        for g in self.gates.get(profile, ()):
            value, limit = row.get(g.metric), limits[g.metric]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return -math.inf
            gap = value - limit if g.kind == "min" else limit - value
            total += min(0.0, gap / max(abs(limit), 1e-9))
        return total

    def gate_failures(self, row: Mapping[str, Any], profile: str, limits: Mapping[str, float]) -> List[str]:
        """One line per gate of ``profile`` that the metrics ``row`` fail (``limits`` from gate_limits)."""
        counts = ", ".join(f"{k} {row[k]}" for k in ("reference", "other", "matched") if k in row)
        return [g.explain(row.get(g.metric, float("nan")), limits[g.metric]) + (f" ({counts})" if counts else "")
                for g in self.gates.get(profile, ()) if not g.passes(row.get(g.metric), limits[g.metric])]
