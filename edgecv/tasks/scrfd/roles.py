"""Converter roles of SCRFD outputs, from their shapes.

An output with R rows of 1 / 4 / 10 values is a score / bbox / kps head; R identifies the stride s:
R = ceil(H/s) * ceil(W/s) * A for the chosen input H x W and A anchors per location. Score heads must
come from a Sigmoid in the graph (through reshapes only).
"""

from __future__ import annotations

import math
from ...errors import ConversionError
from ..spec import GraphFacts, RolePlan, describe_shapes

STRIDE_CANDIDATES = (8, 16, 32, 64, 128)
COLUMNS = {1: "score", 4: "bbox", 10: "kps"}


def scrfd_roles(facts: GraphFacts) -> RolePlan:
    """Roles of SCRFD outputs given their shapes at the chosen input size."""
    shapes, (h, w) = facts.shapes, facts.input_hw
    rows_cols = {}
    for name, shape in shapes.items():
        if len(shape) < 2 or shape[-1] not in COLUMNS:
            raise ConversionError(
                f"cannot assign SCRFD roles: output '{name}' has shape {list(shape)} (last dimension must "
                f"be 1, 4 or 10) at input {h}x{w}; shapes found: {describe_shapes(shapes)}")
        rows_cols[name] = (math.prod(shape[:-1]), shape[-1])
    for anchors in (2, 1, 3, 4):
        by_rows = {math.ceil(h / s) * math.ceil(w / s) * anchors: s for s in STRIDE_CANDIDATES}
        if all(r in by_rows for r, _ in rows_cols.values()):
            break
    else:
        raise ConversionError(
            f"cannot assign SCRFD roles: output row counts match no stride in {STRIDE_CANDIDATES} "
            f"with 1-4 anchors at input {h}x{w}; shapes found: {describe_shapes(shapes)}")
    plan = RolePlan()
    for name, (rows, cols) in rows_cols.items():
        new = f"{COLUMNS[cols]}_{by_rows[rows]}"
        if new in plan.renames.values():
            raise ConversionError(f"cannot assign SCRFD roles: two outputs would be '{new}'; "
                                  f"shapes found: {describe_shapes(shapes)}")
        plan.renames[name] = new
    strides = sorted({by_rows[r] for r, _ in rows_cols.values()})
    for s in strides:
        for role in ("score", "bbox"):
            if f"{role}_{s}" not in plan.renames.values():
                raise ConversionError(f"cannot assign SCRFD roles: stride {s} has no {role} output; "
                                      f"shapes found: {describe_shapes(shapes)}")
    kps = [f"kps_{s}" for s in strides]
    have_kps = [k for k in kps if k in plan.renames.values()]
    if have_kps and len(have_kps) != len(kps):
        raise ConversionError(f"cannot assign SCRFD roles: landmarks for some strides only ({have_kps})")
    not_sigmoid = [o for o, n in plan.renames.items() if n.startswith("score_") and o not in facts.sigmoid_outputs]
    if not_sigmoid:
        raise ConversionError(f"outputs {not_sigmoid} look like SCRFD scores by shape but do not come "
                              f"from a Sigmoid; shapes found: {describe_shapes(shapes)}")
    plan.outputs = {"strides": strides, "num_anchors": anchors, "landmarks": bool(have_kps),
                    "names": [plan.renames[o] for o in shapes]}
    return plan
