"""Depth-map filtering (confidence, depth range, geometric consistency between views) and fusion into one
coloured point cloud; :func:`reconstruct` runs a model over a scene first."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ...errors import InvalidInputError, SceneError
from ...native import core
from ..spec import decimal
from .result import DepthMap
from .scene import Scene

log = logging.getLogger(__name__)
_C = core.ConsistencyParams()  # defaults live in C++ (csrc/edgecv/mvs.hpp)


@dataclass(frozen=True)
class FusionParams:
    """Depth-map filtering before fusion (defaults from the C++ core; measured on the office scene)."""

    #: photometric confidence needed (PatchmatchNet's confidence: median ~0.55)
    min_confidence: float = decimal(_C.min_confidence)
    #: forward-backward reprojection error in reference pixels
    max_reprojection_px: float = decimal(_C.max_reprojection_px)
    #: relative depth difference after the round trip
    max_relative_depth: float = decimal(_C.max_relative_depth)
    #: source views that must agree
    min_views: int = int(_C.min_views)
    #: worker threads of the consistency check (0 = all cores)
    threads: int = 0

    def __post_init__(self) -> None:
        checks = {"min_confidence": (self.min_confidence, 0.0, 1.0),
                  "max_reprojection_px": (self.max_reprojection_px, 1e-6, 1e4),
                  "max_relative_depth": (self.max_relative_depth, 1e-9, 1.0),
                  "min_views": (self.min_views, 1, 64), "threads": (self.threads, 0, 1024)}
        for name, (value, low, high) in checks.items():
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value) \
                and low <= value <= high and (name not in ("min_views", "threads") or float(value).is_integer())
            if not ok:
                raise InvalidInputError(f"{name} must be in [{low:g}, {high:g}], got {value!r:.40}")


def filter_depth(ref: DepthMap, sources: Sequence[DepthMap], params: FusionParams = FusionParams()):
    """Mask (H, W) bool of the reference depth map's pixels that pass confidence, depth range and geometric
    consistency with ``sources``, plus per-pixel consistent-view counts and the depth averaged over the
    consistent views."""
    if not sources:
        raise InvalidInputError("filter_depth needs at least one source depth map")
    min_views = min(params.min_views, len(sources))
    mask, counts, fused = core.check_consistency(
        ref.depth, ref.camera.K, ref.camera.extrinsic,
        [(s.depth, s.camera.K, s.camera.extrinsic) for s in sources], ref.confidence,
        params.max_reprojection_px, params.max_relative_depth, min_views, params.min_confidence, params.threads)
    in_range = (ref.depth >= ref.camera.depth_min) & (ref.depth <= ref.camera.depth_max)
    return mask.astype(bool) & in_range, counts, fused


@dataclass
class Reconstruction:
    """Fused point cloud of a scene: ``xyz`` (M, 3) float32, ``rgb`` (M, 3) uint8, ``view_ids`` (M,) the
    view each point came from, per-view depth maps and masks, and the views whose depth maps were computed
    only to filter the requested ones (``helpers``: not fused)."""

    xyz: np.ndarray
    rgb: np.ndarray
    view_ids: np.ndarray
    depth_maps: Dict[int, DepthMap]
    masks: Dict[int, np.ndarray]
    helpers: List[int]


def fuse(depth_maps: Dict[int, DepthMap], pairs: Dict[int, List[int]], params: FusionParams = FusionParams(),
         refs: Optional[Sequence[int]] = None) -> Reconstruction:
    """Filter the depth maps of ``refs`` (default: all) against their source views (pair.txt order, those
    with depth maps) and fuse the kept pixels (at their consistency-averaged depth) into one point cloud."""
    refs = sorted(depth_maps) if refs is None else list(refs)
    xyz, rgb, ids, masks = [], [], [], {}
    for ref in refs:
        dm = depth_maps[ref]
        sources = [depth_maps[v] for v in pairs.get(ref, []) if v in depth_maps and v != ref]
        if not sources:
            raise InvalidInputError(f"view {ref} has no source view with a depth map to check against")
        mask, _, fused_depth = filter_depth(dm, sources, params)
        masks[ref] = mask
        averaged = replace(dm, depth=np.where(mask, fused_depth, 0).astype(np.float32))
        points, colours = averaged.to_points()
        xyz.append(points)
        rgb.append(colours if colours is not None else np.zeros_like(points, dtype=np.uint8))
        ids.append(np.full(len(points), ref, np.int32))
    helpers = sorted(set(depth_maps) - set(refs))
    if not xyz:
        return Reconstruction(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8), np.zeros(0, np.int32),
                              depth_maps, masks, helpers)
    return Reconstruction(np.concatenate(xyz), np.concatenate(rgb), np.concatenate(ids), depth_maps, masks, helpers)


def views_to_compute(scene: Scene, refs: Sequence[int], min_views: int) -> List[int]:
    """The requested views plus, for any of them with fewer than ``min_views`` source views among the
    requested ones, its best pair.txt sources until it has ``min_views``: what filtering needs."""
    chosen = list(dict.fromkeys(refs))
    for ref in refs:
        have = [v for v in scene.pairs.get(ref, []) if v in chosen and v != ref]
        for v in scene.pairs.get(ref, []):
            if len(have) >= min_views:
                break
            if v != ref and v in scene.cameras and v not in chosen:
                chosen.append(v)
                have.append(v)
        if not have:
            raise SceneError(f"view {ref} has no source views in pair.txt to check its depth against")
    return chosen


def reconstruct(model, scene: Scene, refs: Optional[Sequence[int]] = None, params: FusionParams = FusionParams(),
                progress: Optional[Callable[[int, int, int, float], None]] = None,
                depth: Optional[Callable[[List[int]], Iterable[Tuple[int, DepthMap]]]] = None) -> Reconstruction:
    """Depth for each reference view (all by default) with ``model`` — plus the source views filtering needs
    when only some views are asked for — then :func:`fuse` of the requested views.
    ``progress(done, total, view, seconds)`` is called after each view. ``depth(views)``, when given, computes
    the depth maps instead of ``model.detect`` one view after another (``edgecv.batch`` gives one that runs
    them on a Ray cluster), yielding ``(view, DepthMap)`` in any order."""
    refs = list(scene.views if refs is None else refs)
    unknown = [r for r in refs if r not in scene.cameras]
    if unknown:
        raise SceneError(f"views {unknown} are not in the scene (views: {scene.views})")
    if not refs:
        raise InvalidInputError("no reference views given")
    todo = views_to_compute(scene, refs, params.min_views)
    if len(todo) > len(refs):
        log.info("computing source views %s too: filtering needs them", todo[len(refs):])
    if params.threads == 0 and getattr(getattr(model, "engine", None), "threads", None):
        params = replace(params, threads=model.engine.threads)
    if depth is None:
        def depth(views: List[int]) -> Iterator[Tuple[int, DepthMap]]:
            for view in views:
                yield view, model.detect(scene, ref=view)
    depth_maps: Dict[int, DepthMap] = {}
    start = time.perf_counter()
    for view, dm in depth(todo):
        depth_maps[view] = dm
        if progress is not None:
            progress(len(depth_maps), len(todo), view, time.perf_counter() - start)
        start = time.perf_counter()
    missing = sorted(set(todo) - set(depth_maps))
    if missing:
        raise InvalidInputError(f"no depth map came back for views {missing}")
    return fuse(depth_maps, scene.pairs, params, refs)
