"""Deprecated: depth and point-cloud files live in edgecv.tasks.mvs.depth_io."""
from ._compat import moved
from .tasks.mvs.depth_io import read_depth, read_ply, write_depth, write_ply

moved("edgecv.depth_io", "edgecv.tasks.mvs.depth_io")
__all__ = ["read_depth", "read_ply", "write_depth", "write_ply"]
