"""Model files on disk: offline mirrors, the cache, sha256 checks and downloads.

A manifest file is looked up, in order:

1. every directory in ``EDGECV_MODELS`` (``os.pathsep``-separated), as ``<dir>/<model>/<file>``,
   ``<dir>/<folder>/<file>`` (the manifest's ``mirror`` folder, shared by several models) or ``<dir>/<file>`` — an
   offline mirror, e.g. ``../shared/models``;
2. the cache ``EDGECV_CACHE`` (default ``~/.cache/edgecv``), as ``<cache>/<model>/<file>``;
3. a download from the manifest's URL into the cache, unless ``EDGECV_OFFLINE=1``.

Every file is checked against its sha256 wherever it comes from. A mirror file that fails is an error
(:class:`ChecksumError`: the mirror is wrong); a cached file that fails (a half-written or damaged
entry) is logged at WARNING, removed and fetched again. Files enter the cache atomically.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import urllib.request
from pathlib import Path
from typing import List, Optional

from ..errors import ChecksumError, DownloadError, ModelNotFoundError, OutputWriteError
from ..fileio import atomic_path
from .manifests import Manifest, ModelFile
from .metadata import ModelConfig, metadata_path, read_sidecar

log = logging.getLogger(__name__)

ENV_MIRROR = "EDGECV_MODELS"
ENV_CACHE = "EDGECV_CACHE"
ENV_OFFLINE = "EDGECV_OFFLINE"


def mirror_dirs() -> List[Path]:
    raw = os.environ.get(ENV_MIRROR, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p]


def cache_dir() -> Path:
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "edgecv").expanduser()


def offline() -> bool:
    return os.environ.get(ENV_OFFLINE, "") not in ("", "0")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, expected: str) -> Path:
    """``path`` if its sha256 is ``expected``; ChecksumError otherwise."""
    actual = sha256_file(path)
    if actual != expected.lower():
        raise ChecksumError(f"sha256 mismatch for {path}: expected {expected}, got {actual}")
    return path


def mirror_paths(directory: Path, model: str, filename: str, folder: Optional[str] = None) -> List[Path]:
    """Where a mirror directory may hold a model's file: ``<dir>/<model>/<file>``, ``<dir>/<folder>/<file>`` (a
    folder several models share) or ``<dir>/<file>``."""
    folders = [model] + ([folder] if folder and folder != model else [])
    return [Path(directory) / f / filename for f in folders] + [Path(directory) / filename]


def find_in_mirrors(model: str, filename: str, mirrors: Optional[List[Path]] = None,
                    folder: Optional[str] = None) -> Optional[Path]:
    """First copy of a model's file in the mirrors (``EDGECV_MODELS`` by default), or None."""
    for d in mirror_dirs() if mirrors is None else mirrors:
        for p in mirror_paths(d, model, filename, folder):
            if p.is_file():
                return p
    return None


def cached_path(model: str, filename: str) -> Path:
    return cache_dir() / model / filename


def _valid_cached(path: Path, sha256: str) -> bool:
    """Whether a cache entry exists and is intact; a damaged one is reported and removed."""
    if not path.is_file():
        return False
    try:
        verify(path, sha256)
        return True
    except ChecksumError:
        log.warning("cached %s is damaged (sha256 mismatch); fetching it again", path)
        path.unlink(missing_ok=True)
        return False


def _download(url: str, dest: Path, sha256: str) -> Path:
    if not url:
        raise DownloadError(f"{dest.name} has no public download URL (see the model's manifest); "
                            f"put it in a mirror directory named by {ENV_MIRROR}")
    if offline():
        raise DownloadError(f"{dest.name} is not in the mirror or cache and {ENV_OFFLINE} is set")
    log.info("downloading %s -> %s", url, dest)
    try:
        with atomic_path(dest) as tmp:
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
                shutil.copyfileobj(resp, out)
            verify(tmp, sha256)
    except (ChecksumError, OutputWriteError):
        raise
    except Exception as exc:
        raise DownloadError(f"cannot download {url}: {exc} (offline? point {ENV_MIRROR} at a "
                            f"directory holding the model files)") from exc
    return dest


def copy_into_cache(src: Path, dest: Path, sha256: str) -> Path:
    """Copy a verified file into the cache atomically."""
    verify(src, sha256)
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    return dest


def resolve_file(manifest: Manifest, f: ModelFile, download: bool = True) -> Path:
    """One verified local file of a manifest's model: mirror, cache, or a download into the cache."""
    model = manifest.name
    mirrored = find_in_mirrors(model, f.name, folder=manifest.mirror)
    if mirrored is not None:
        return verify(mirrored, f.sha256)
    cached = cached_path(model, f.name)
    if _valid_cached(cached, f.sha256):
        return cached
    if download:
        return _download(f.url, cached, f.sha256)
    raise ModelNotFoundError(
        f"{f.name} of model '{model}' is not in the mirror ({ENV_MIRROR}="
        f"{os.environ.get(ENV_MIRROR, '')!r}) or the cache ({cache_dir()})")


def fetch_file(manifest: Manifest, f: ModelFile, mirror: Optional[Path] = None) -> Path:
    """One file of a manifest's model into the cache, verified: from ``mirror`` when given (else the
    ``EDGECV_MODELS`` mirrors), kept if already cached intact, else downloaded."""
    dest = cached_path(manifest.name, f.name)
    src = find_in_mirrors(manifest.name, f.name, None if mirror is None else [mirror], manifest.mirror)
    if mirror is not None and src is None:
        raise ModelNotFoundError(f"{f.name} not found in mirror {mirror}")
    if src is not None:
        return dest if _valid_cached(dest, f.sha256) else copy_into_cache(src, dest, f.sha256)
    if _valid_cached(dest, f.sha256):
        return dest
    return _download(f.url, dest, f.sha256)


def conversion_dir(manifest: Manifest, engine: str) -> Path:
    """Cache folder of ``engine``'s files converted on first use."""
    return cache_dir() / manifest.name / f"converted-{engine}"


def cached_conversion(manifest: Manifest, engine: str, source_sha256: str) -> Optional[List[Path]]:
    """Files converted earlier for ``engine`` when their metadata names ``source_sha256`` and every file
    still has its recorded sha256; None when there are none. A damaged entry (unreadable metadata, a
    file that fails its sha256) is logged at WARNING and left to be rebuilt."""
    model_file = conversion_dir(manifest, engine) / f"{manifest.name}.onnx"
    sidecar = metadata_path(model_file)
    if not sidecar.exists():
        return None
    try:
        config: Optional[ModelConfig] = read_sidecar(model_file)
    except Exception as exc:  # noqa: BLE001 - any damage: rebuild
        log.warning("cached conversion %s is unreadable (%s); converting again", sidecar, exc)
        return None
    doc = config.raw if config else {}
    entries = doc.get("files", {}).get(engine, [])
    if not entries or doc.get("source", {}).get("sha256") != source_sha256:
        return None
    paths = [sidecar.parent / e["name"] for e in entries]
    for p, e in zip(paths, entries):
        if not p.is_file() or sha256_file(p) != e["sha256"]:
            log.warning("cached converted file %s is missing or damaged; converting again", p)
            return None
    return paths


def locally_available(manifest: Manifest) -> dict:
    """Engine -> whether all its files are local (mirror or intact-looking cache); engines converted
    on first use count once their converted files are cached."""
    local = {eng: all(find_in_mirrors(manifest.name, f.name, folder=manifest.mirror) is not None
                      or cached_path(manifest.name, f.name).is_file() for f in files)
             for eng, files in manifest.files.items()}
    for eng in manifest.engines:
        source = manifest.files_source(eng)
        if source is not None:
            local[eng] = local[source]
        else:  # converted on first use
            local[eng] = metadata_path(conversion_dir(manifest, eng) / f"{manifest.name}.onnx").is_file()
    return {e: local[e] for e in manifest.engines}

