"""Assigning roles (canonical names) to model outputs from their shapes.

SCRFD: an output with R rows of 1 / 4 / 10 values is a score / bbox / kps head; R identifies the
stride s: R = ceil(H/s) * ceil(W/s) * A for the chosen input H x W and A anchors per location.
OpenPose: by channel count: 19 = heatmaps (18 parts + background), 38 = PAFs (19 limbs x (x, y)),
57 = both concatenated (heatmaps first, CMU layout), to be split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import ConversionError

SCRFD_STRIDE_CANDIDATES = (8, 16, 32, 64, 128)
SCRFD_COLUMNS = {1: "score", 4: "bbox", 10: "kps"}
OPENPOSE_HEATMAPS, OPENPOSE_PAFS = 19, 38


@dataclass
class RolePlan:
    """Result of role inference: renames, channel splits and task output metadata."""

    renames: Dict[str, str] = field(default_factory=dict)
    #: old output -> [(new name, first channel, end channel)] to split along axis 1
    splits: Dict[str, List[Tuple[str, int, int]]] = field(default_factory=dict)
    outputs: Dict[str, object] = field(default_factory=dict)


def _describe(shapes: Dict[str, Sequence[int]]) -> str:
    return ", ".join(f"{n}: {list(s)}" for n, s in shapes.items())


def scrfd_roles(shapes: Dict[str, Sequence[int]], input_hw: Tuple[int, int],
                sigmoid_outputs: Optional[set] = None) -> RolePlan:
    """Roles of SCRFD outputs given their shapes at input size ``input_hw``."""
    h, w = input_hw
    rows_cols = {}
    for name, shape in shapes.items():
        if len(shape) < 2 or shape[-1] not in SCRFD_COLUMNS:
            raise ConversionError(
                f"cannot assign SCRFD roles: output '{name}' has shape {list(shape)} (last dimension must "
                f"be 1, 4 or 10) at input {h}x{w}; shapes found: {_describe(shapes)}")
        rows_cols[name] = (math.prod(shape[:-1]), shape[-1])
    for anchors in (2, 1, 3, 4):
        by_rows = {math.ceil(h / s) * math.ceil(w / s) * anchors: s for s in SCRFD_STRIDE_CANDIDATES}
        if all(r in by_rows for r, _ in rows_cols.values()):
            break
    else:
        raise ConversionError(
            f"cannot assign SCRFD roles: output row counts match no stride in {SCRFD_STRIDE_CANDIDATES} "
            f"with 1-4 anchors at input {h}x{w}; shapes found: {_describe(shapes)}")
    plan = RolePlan()
    for name, (rows, cols) in rows_cols.items():
        new = f"{SCRFD_COLUMNS[cols]}_{by_rows[rows]}"
        if new in plan.renames.values():
            raise ConversionError(f"cannot assign SCRFD roles: two outputs would be '{new}'; "
                                  f"shapes found: {_describe(shapes)}")
        plan.renames[name] = new
    strides = sorted({by_rows[r] for r, _ in rows_cols.values()})
    for s in strides:
        for role in ("score", "bbox"):
            if f"{role}_{s}" not in plan.renames.values():
                raise ConversionError(f"cannot assign SCRFD roles: stride {s} has no {role} output; "
                                      f"shapes found: {_describe(shapes)}")
    kps = [f"kps_{s}" for s in strides]
    have_kps = [k for k in kps if k in plan.renames.values()]
    if have_kps and len(have_kps) != len(kps):
        raise ConversionError(f"cannot assign SCRFD roles: landmarks for some strides only ({have_kps})")
    if sigmoid_outputs is not None:
        not_sigmoid = [o for o, n in plan.renames.items() if n.startswith("score_") and o not in sigmoid_outputs]
        if not_sigmoid:
            raise ConversionError(f"outputs {not_sigmoid} look like SCRFD scores by shape but do not come "
                                  f"from a Sigmoid; shapes found: {_describe(shapes)}")
    plan.outputs = {"strides": strides, "num_anchors": anchors, "landmarks": bool(have_kps),
                    "names": [plan.renames[o] for o in shapes]}
    return plan


def openpose_roles(shapes: Dict[str, Sequence[int]]) -> RolePlan:
    """Roles of OpenPose outputs (NCHW) by channel count."""
    plan = RolePlan()
    channels = {n: (s[1] if len(s) == 4 else None) for n, s in shapes.items()}
    if len(shapes) == 1 and next(iter(channels.values())) == OPENPOSE_HEATMAPS + OPENPOSE_PAFS:
        name = next(iter(shapes))
        plan.splits[name] = [("heatmaps", 0, OPENPOSE_HEATMAPS),
                             ("pafs", OPENPOSE_HEATMAPS, OPENPOSE_HEATMAPS + OPENPOSE_PAFS)]
    else:
        for name, c in channels.items():
            role = {OPENPOSE_HEATMAPS: "heatmaps", OPENPOSE_PAFS: "pafs"}.get(c)
            if role is None or role in plan.renames.values():
                raise ConversionError(
                    f"cannot assign OpenPose roles: expected NCHW outputs with 19 (heatmaps) and 38 (PAFs) "
                    f"channels, or one with 57; shapes found: {_describe(shapes)}")
            plan.renames[name] = role
        if sorted(plan.renames.values()) != ["heatmaps", "pafs"]:
            raise ConversionError(f"cannot assign OpenPose roles: need heatmaps and pafs; "
                                  f"shapes found: {_describe(shapes)}")
    # A single 57-channel output is CMU's layout; the two-output models are lightweight OpenPose.
    plan.outputs = {"names": ["heatmaps", "pafs"], "stride": 8, "layout": "cmu" if plan.splits else "lightweight"}
    return plan


TASK_ROLES = {"scrfd": scrfd_roles, "openpose": openpose_roles}
