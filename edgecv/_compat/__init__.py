"""Re-exports of modules that moved in edgecv 0.2 (task packages, the model store). Each old module
(``edgecv.results``, ``edgecv.mvs``, ``edgecv.headpose``, ``edgecv.depth_io``, ``edgecv.pose_layouts``,
``edgecv.compare``, ``edgecv.hub``) still imports, with a DeprecationWarning, for one release."""

from __future__ import annotations

import warnings


def moved(old: str, new: str) -> None:
    warnings.warn(f"{old} moved to {new}; the old name goes away in the next release", DeprecationWarning,
                  stacklevel=3)
