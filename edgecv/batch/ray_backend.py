"""Ray backend: the same jobs and rows as the local backend, on a Ray cluster (or a local Ray started for
the run).

Jobs go into a Ray Dataset (``from_items``), ``map_batches`` runs them on an actor pool of model holders
(one loaded model per actor, ``num_cpus`` = its engine threads, the thread count given to the engine
explicitly: ONNX Runtime ignores the ``OMP_NUM_THREADS=1`` Ray sets), and the driver streams the rows back
and writes them as shards (``shards.ShardWriter``), so resuming works the same as locally.

Model files reach the actors through each machine's edgecv cache: names are fetched there from the
mirror (``EDGECV_MODELS``, passed on) or the manifest's URL with sha256 checks; files given by path are
shipped with the job and checked against their sha256 before loading.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import tempfile
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from ..errors import FeatureNotInstalledError, InvalidInputError
from .holder import ModelHolder, ModelSpec
from .inputs import Job

log = logging.getLogger(__name__)


def ray_module():
    """The ray module (with Ray Data), or FeatureNotInstalledError naming the extra."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise FeatureNotInstalledError("the Ray backend needs ray[data], which is not installed: "
                                       "pip install 'edgecv[batch]'") from exc
    return ray


def _env() -> Dict[str, str]:
    """EDGECV_* settings (mirror, cache, offline, trust) for the workers."""
    return {k: v for k, v in os.environ.items() if k.startswith("EDGECV_")}


@contextlib.contextmanager
def ray_session(address: Optional[str], cpus: Optional[int]) -> Iterator[Any]:
    """Connect to the cluster at ``address`` (or start a local Ray with ``cpus`` CPUs); shut down on exit
    what this call started."""
    ray = ray_module()
    started = False
    if not log.isEnabledFor(logging.INFO):  # Ray's own notices only with -v
        for name in ("ray", "ray.data"):
            logging.getLogger(name).setLevel(logging.ERROR)
    workdir = None
    if not ray.is_initialized():
        # Ray puts the driver's working directory first on its workers' sys.path unless the job has a working_dir:
        # from the root of a source checkout the workers would import the unbuilt tree instead of the installed
        # edgecv. An empty working_dir keeps them on the installed package wherever the driver runs.
        workdir = tempfile.TemporaryDirectory(prefix="edgecv-ray-")
        try:
            ray.init(address=address, num_cpus=None if address else cpus, include_dashboard=False,
                     log_to_driver=False, logging_level=logging.WARNING, configure_logging=False,
                     runtime_env={"env_vars": _env(), "working_dir": workdir.name})
        except (ConnectionError, ValueError, RuntimeError) as exc:
            workdir.cleanup()
            raise InvalidInputError(f"cannot reach Ray at {address or 'a new local instance'}: {exc}") from exc
        started = True
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        yield ray
    finally:
        if started:
            ray.shutdown()
        if workdir is not None:
            workdir.cleanup()


class _ActorHolder:
    """A Ray Data UDF class: one ModelHolder per actor; a batch is a column of pickled jobs."""

    def __init__(self, spec: ModelSpec) -> None:
        self.holder = ModelHolder(spec)

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        rows: List[Dict[str, Any]] = []
        for blob in batch["job"]:
            rows.extend(self.holder.run(pickle.loads(blob)))
        return {"rows": [pickle.dumps(rows)]}


def run_ray(spec: ModelSpec, jobs: Iterable[Job], workers: int, address: Optional[str], cpus: Optional[int]
            ) -> Iterator[List[Dict[str, Any]]]:
    """Rows of every job, as Ray Data streams them back."""
    items = [{"job": pickle.dumps(job)} for job in jobs]
    if not items:
        return
    with ray_session(address, cpus) as ray:
        ds = ray.data.from_items(items, override_num_blocks=min(len(items), 4 * workers))
        ds = ds.map_batches(_ActorHolder, fn_constructor_kwargs={"spec": spec}, batch_size=1, batch_format="numpy",
                            compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=spec.threads)
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for blob in batch["rows"]:
                yield pickle.loads(blob)


# -- multi-view stereo: depth maps on the cluster ----------------------------------------------------------
@contextlib.contextmanager
def depth_on_ray(spec: ModelSpec, scene: Any, num_views: int, workers: int, address: Optional[str] = None,
                 cpus: Optional[int] = None):
    """A ``depth(views) -> iterator of (view, DepthMap)`` provider for ``tasks.mvs.reconstruct``: one task per
    reference view on an actor pool; each task carries its views' images and cameras (no shared disk needed)."""
    with ray_session(address, cpus) as ray:
        actor = ray.remote(num_cpus=spec.threads)(_MvsActor)
        pool = ray.util.ActorPool([actor.remote(spec) for _ in range(workers)])

        def depth(views: Sequence[int]) -> Iterator[Tuple[int, Any]]:
            refs = [(v, ray.put(scene.views_for(v, num_views))) for v in views]
            yield from pool.map_unordered(lambda a, job: a.depth.remote(*job), refs)

        yield depth


class _MvsActor:
    def __init__(self, spec: ModelSpec) -> None:
        self.model = ModelHolder(spec).model

    def depth(self, ref: int, views: List[Any]) -> Tuple[int, Any]:
        return ref, self.model.detect(views)
