"""Converter roles of OpenPose outputs (NCHW), by channel count: 19 = heatmaps (18 parts + background),
38 = PAFs (19 limbs x (x, y)), 57 = both concatenated (heatmaps first, CMU layout), to be split."""

from __future__ import annotations

from ...errors import ConversionError
from ..spec import GraphFacts, RolePlan, describe_shapes

HEATMAP_CHANNELS, PAF_CHANNELS = 19, 38


def openpose_roles(facts: GraphFacts) -> RolePlan:
    shapes = facts.shapes
    plan = RolePlan()
    channels = {n: (s[1] if len(s) == 4 else None) for n, s in shapes.items()}
    if len(shapes) == 1 and next(iter(channels.values())) == HEATMAP_CHANNELS + PAF_CHANNELS:
        name = next(iter(shapes))
        plan.splits[name] = [("heatmaps", 0, HEATMAP_CHANNELS),
                             ("pafs", HEATMAP_CHANNELS, HEATMAP_CHANNELS + PAF_CHANNELS)]
    else:
        for name, c in channels.items():
            role = {HEATMAP_CHANNELS: "heatmaps", PAF_CHANNELS: "pafs"}.get(c) if c is not None else None
            if role is None or role in plan.renames.values():
                raise ConversionError(
                    f"cannot assign OpenPose roles: expected NCHW outputs with 19 (heatmaps) and 38 (PAFs) "
                    f"channels, or one with 57; shapes found: {describe_shapes(shapes)}")
            plan.renames[name] = role
        if sorted(plan.renames.values()) != ["heatmaps", "pafs"]:
            raise ConversionError(f"cannot assign OpenPose roles: need heatmaps and pafs; "
                                  f"shapes found: {describe_shapes(shapes)}")
    # A single 57-channel output is CMU's layout; the two-output models are lightweight OpenPose.
    plan.outputs = {"names": ["heatmaps", "pafs"], "stride": 8, "layout": "cmu" if plan.splits else "lightweight"}
    return plan
