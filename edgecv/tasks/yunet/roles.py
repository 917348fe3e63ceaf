"""Converter roles of YuNet outputs, from their names or their shapes.

Files exported by libfacedetection.train already name their outputs ``cls_<s>``, ``obj_<s>``, ``bbox_<s>``,
``kps_<s>``; they keep them. Otherwise roles come from shapes: an output with R rows of 1 / 4 / 10 values is a
score / bbox / kps head, and R = ceil(H/s) * ceil(W/s) (one prior per cell) gives its stride. Each stride has two
1-value heads, both from a Sigmoid: the first becomes ``cls``, the second ``obj`` (the score sqrt(cls * obj) is
symmetric in them, so the order does not matter).
"""

from __future__ import annotations

import math
from typing import Dict, List

from ...errors import ConversionError
from ..spec import GraphFacts, RolePlan, describe_shapes
from .model import ROLES

STRIDE_CANDIDATES = (8, 16, 32, 64)


def yunet_roles(facts: GraphFacts) -> RolePlan:
    """Roles of YuNet outputs given their shapes at the chosen input size."""
    shapes, (h, w) = facts.shapes, facts.input_hw
    by_rows = {math.ceil(h / s) * math.ceil(w / s): s for s in STRIDE_CANDIDATES}
    plan = RolePlan()
    heads: Dict[int, Dict[int, List[str]]] = {}
    for name, shape in shapes.items():
        cols = shape[-1] if len(shape) >= 2 else 0
        rows = math.prod(shape[:-1]) if len(shape) >= 2 else 0
        if cols not in (1, 4, 10) or rows not in by_rows:
            raise ConversionError(
                f"cannot assign YuNet roles: output '{name}' has shape {list(shape)} at input {h}x{w} (rows of 1, 4 "
                f"or 10 values, one per cell of stride {'/'.join(map(str, STRIDE_CANDIDATES))}); shapes found: "
                f"{describe_shapes(shapes)}")
        heads.setdefault(by_rows[rows], {}).setdefault(cols, []).append(name)
    named = all(n.split("_")[0] in ROLES and n.split("_")[-1] == str(s)
                for s, per in heads.items() for names in per.values() for n in names)
    for s, per in sorted(heads.items()):
        scores = per.get(1, [])
        if len(scores) != 2 or len(per.get(4, [])) != 1 or len(per.get(10, [])) > 1:
            raise ConversionError(f"cannot assign YuNet roles: stride {s} needs two 1-value heads (cls, obj), one bbox "
                                  f"and at most one kps; shapes found: {describe_shapes(shapes)}")
        not_sigmoid = [n for n in scores if n not in facts.sigmoid_outputs]
        if not_sigmoid:
            raise ConversionError(f"outputs {not_sigmoid} look like YuNet scores by shape but do not come from a "
                                  f"Sigmoid; shapes found: {describe_shapes(shapes)}")
        if not named:
            plan.renames.update({scores[0]: f"cls_{s}", scores[1]: f"obj_{s}", per[4][0]: f"bbox_{s}"})
            if per.get(10):
                plan.renames[per[10][0]] = f"kps_{s}"
    strides = sorted(heads)
    landmarks = [bool(heads[s].get(10)) for s in strides]
    if any(landmarks) and not all(landmarks):
        raise ConversionError("cannot assign YuNet roles: landmarks for some strides only")
    plan.outputs = {"strides": strides, "landmarks": all(landmarks),
                    "names": [plan.renames.get(o, o) for o in shapes]}
    return plan
