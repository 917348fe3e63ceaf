"""The core edgecv's tasks call: the compiled C++ one (``edgecv._core``) when it imports, else the pure-Python one
(``edgecv._pycore``: numpy and OpenCV, same entry points, same checks and errors), for platforms without a wheel
(mobile Python, 32-bit boards). ``EDGECV_CORE=native`` insists on the compiled core (an ImportError naming the cause
when it is missing); ``EDGECV_CORE=python`` uses the Python one even where the compiled one exists."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ENV_CORE = "EDGECV_CORE"
CHOICES = ("auto", "native", "python")

_choice = os.environ.get(ENV_CORE, "auto").strip().lower() or "auto"
if _choice not in CHOICES:
    raise ImportError(f"{ENV_CORE}={_choice!r}: choose one of {', '.join(CHOICES)}")
KIND = "python"
#: the chosen core module (typed Any: the compiled and the Python core have the same entry points, not one type)
core: Any
if _choice == "python":
    from . import _pycore as _python_core

    core = _python_core
else:
    try:
        from . import _core as _native_core  # type: ignore[attr-defined]  # compiled: no source for mypy

        core = _native_core
        KIND = "native"
    except ImportError as exc:
        if _choice == "native":
            raise ImportError(
                f"{ENV_CORE}=native but edgecv's compiled core (edgecv._core) does not import ({exc}): install a "
                "platform wheel or build from source (pip install .), or unset it to use the pure-Python core. (Python "
                "started in an unbuilt source checkout imports that checkout instead of the installed package.)"
            ) from exc
        from . import _pycore as _python_core

        core = _python_core

        checkout = Path(__file__).resolve().parents[1]
        if (checkout / "csrc").is_dir() and (checkout / "pyproject.toml").is_file():
            # Python started in (or with sys.path on) a clone: its unbuilt tree shadows the installed package
            log.warning("edgecv is imported from the unbuilt source checkout %s, not the installed package: using the "
                        "slower pure-Python core. Run Python from another folder (or `python -P`), or build the "
                        "checkout in place.", checkout)
        else:
            log.info("edgecv's compiled core is not installed (%s): using the pure-Python core", exc)

__all__ = ["core", "KIND", "ENV_CORE"]
