"""Deprecated: multi-view stereo lives in edgecv.tasks.mvs."""
from ._compat import moved
from .tasks.mvs import (FusionParams, MvsCamera, Reconstruction, Scene, View, filter_depth, fuse, load_scene,
                        read_cam_file, read_pair_file, reconstruct)

moved("edgecv.mvs", "edgecv.tasks.mvs")
__all__ = ["FusionParams", "MvsCamera", "Reconstruction", "Scene", "View", "filter_depth", "fuse", "load_scene",
           "read_cam_file", "read_pair_file", "reconstruct"]
