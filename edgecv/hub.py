"""Deprecated: the model store is edgecv.store; fetching is edgecv.loading.fetch."""
from ._compat import moved
from .loading import available_models, fetch, model_files as resolve_files
from .store import (ENV_CACHE, ENV_MIRROR, ENV_OFFLINE, Manifest, ModelFile, cache_dir, get_manifest,
                    list_manifests, mirror_dirs, sha256_file, verify)

moved("edgecv.hub", "edgecv.store and edgecv.loading")
__all__ = ["ENV_CACHE", "ENV_MIRROR", "ENV_OFFLINE", "Manifest", "ModelFile", "available_models", "cache_dir",
           "fetch", "get_manifest", "list_manifests", "mirror_dirs", "resolve_files", "sha256_file", "verify"]
