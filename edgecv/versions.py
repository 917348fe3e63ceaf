"""Installed versions of packages, read from their metadata (nothing is imported)."""

from __future__ import annotations

from importlib import metadata
from typing import Optional

#: edgecv's own version (pyproject.toml reads it from here).
__version__ = "0.3.0"


def package_version(distribution: str) -> Optional[str]:
    """Version of an installed pip distribution, or None when it is not installed."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
