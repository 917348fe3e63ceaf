"""Multi-view stereo with PatchmatchNet: MVSNet scene I/O, depth maps, consistency filtering, fusion."""

from __future__ import annotations

from ..spec import TaskSpec
from .compare import GATES, compare_depth, summarize_depth
from .depth_io import read_depth, read_ply, write_depth, write_ply
from .fusion import FusionParams, Reconstruction, filter_depth, fuse, reconstruct
from .model import PatchmatchNetModel, relative_projections
from .result import DepthMap
from .scene import MvsCamera, Scene, View, load_scene, parse_cam, read_cam_file, read_pair_file

SPEC: TaskSpec = TaskSpec(
    name="mvs", title="multi-view stereo (PatchmatchNet)", model=PatchmatchNetModel, result=DepthMap,
    nouns=("depth pixel", "depth pixels"), matches=PatchmatchNetModel.matches,
    compare=compare_depth, summarize=summarize_depth, gates=GATES, raw_gate=False, agreement="depth_agreement",
    min_calibration=(4, 1))

__all__ = ["SPEC", "PatchmatchNetModel", "DepthMap", "MvsCamera", "Scene", "View", "FusionParams", "Reconstruction",
           "load_scene", "parse_cam", "read_cam_file", "read_pair_file", "filter_depth", "fuse", "reconstruct",
           "relative_projections", "read_depth", "write_depth", "read_ply", "write_ply"]
