"""The model store: manifests, offline mirrors, the sha256-verified cache and model metadata.

It sits at the bottom of edgecv: it imports nothing above it (no engines, tasks or converter).
Converting on first use is the loader's job (``edgecv.loading``), which asks the store whether a
cached conversion is still valid.
"""

from __future__ import annotations

from .files import (ENV_CACHE, ENV_MIRROR, ENV_OFFLINE, cache_dir, cached_conversion, conversion_dir,
                    fetch_file, find_in_mirrors, locally_available, mirror_dirs, resolve_file, sha256_file,
                    verify)
from .manifests import Manifest, ModelFile, get_manifest, list_manifests, manifest_dirs
from .metadata import (METADATA_KEY, METADATA_SUFFIX, ModelConfig, check_metadata, config_from_dict,
                       embedded_config, metadata_path, parse_metadata, read_sidecar)

__all__ = [
    "ENV_CACHE", "ENV_MIRROR", "ENV_OFFLINE", "METADATA_KEY", "METADATA_SUFFIX", "Manifest", "ModelConfig",
    "ModelFile", "cache_dir", "cached_conversion", "check_metadata", "config_from_dict", "conversion_dir",
    "embedded_config", "fetch_file", "find_in_mirrors", "get_manifest", "list_manifests", "locally_available",
    "manifest_dirs", "metadata_path", "mirror_dirs", "parse_metadata", "read_sidecar", "resolve_file", "sha256_file",
    "verify",
]
