"""Access to the compiled core ``edgecv._core`` with a clear error when it is not built."""

from __future__ import annotations

try:
    from . import _core as core
except ImportError as exc:  # pragma: no cover - depends on how edgecv was imported
    raise ImportError(
        "edgecv's compiled core (edgecv._core) is missing: this is probably an unbuilt source "
        "checkout shadowing the installed package (e.g. Python started in the repository root). "
        "Install with `pip install .` and run from another directory, or use `pip install -e .`."
    ) from exc

__all__ = ["core"]
