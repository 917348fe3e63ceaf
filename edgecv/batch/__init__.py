"""Batch processing: one model over folders, archives, videos or MVS scenes, into a resumable Parquet folder.

    >>> from edgecv import batch
    >>> summary = batch.run(["photos/", "day1.tar"], "scrfd_2.5g_bnkps_640", out="faces.parquet")
    >>> table = batch.read_results("faces.parquet")   # pyarrow Table, one row per input item

Backends: ``local`` (worker processes, needs pyarrow) and ``ray`` (Ray Data actor pool, needs ray[data]);
both give the same rows. Modules: ``inputs`` (what is read), ``holder`` (the model each worker keeps and
the rows it makes), ``shards`` (the Parquet folder), ``local`` / ``ray_backend``, ``runner``.
"""

from __future__ import annotations

from .holder import COLUMNS, ModelSpec
from .inputs import ArchiveLimits
from .runner import BACKENDS, BatchSummary, run, split_cores
from .shards import read_results

__all__ = ["run", "read_results", "ArchiveLimits", "BatchSummary", "BACKENDS", "COLUMNS", "ModelSpec", "split_cores"]
