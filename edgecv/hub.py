"""Model manifests and model files: offline mirror, sha256-verified download cache.

A model name (e.g. ``scrfd_2.5g_bnkps_640``) resolves through its manifest (``models/<name>.json``
in the source tree, shipped as ``edgecv/manifests/`` in the package). Each file of the chosen engine
is looked up, in order:

1. every directory in ``EDGECV_MODELS`` (``os.pathsep``-separated), as ``<dir>/<name>/<file>``
   or ``<dir>/<file>`` — an offline mirror, e.g. ``../shared/models``;
2. the cache ``EDGECV_CACHE`` (default ``~/.cache/edgecv``), as ``<cache>/<name>/<file>``;
3. a download from the manifest's URL into the cache, unless ``EDGECV_OFFLINE=1``.

Engines listed under ``convert`` in a manifest get their files converted from the ONNX file on first
use (``edgecv.convert``), cached under ``<cache>/<name>/converted-<engine>/`` and re-verified by the
sha256 values the conversion recorded.

Every file is checked against the manifest's sha256 wherever it comes from; a mismatch raises
:class:`ChecksumError`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from .errors import ChecksumError, DownloadError, InvalidInputError, ModelNotFoundError

log = logging.getLogger(__name__)

ENV_MIRROR = "EDGECV_MODELS"
ENV_CACHE = "EDGECV_CACHE"
ENV_OFFLINE = "EDGECV_OFFLINE"


@dataclass(frozen=True)
class ModelFile:
    name: str
    sha256: str
    url: str


@dataclass(frozen=True)
class Manifest:
    """A model's manifest: task, input contract, output contract and files per engine."""

    name: str
    task: str
    description: str
    license: str
    source: str
    input: Dict[str, Any]
    outputs: Dict[str, Any]
    files: Dict[str, List[ModelFile]] = field(default_factory=dict)
    #: engine -> source its files are converted from on first use (into the cache): "onnxruntime" (the
    #: ONNX file above) or a key of ``sources``; a plain list means "onnxruntime" for each engine
    convert: Dict[str, str] = field(default_factory=dict)
    #: extra ONNX files that are only conversion sources (e.g. a portable variant of the graph)
    sources: Dict[str, List[ModelFile]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Manifest":
        files = {eng: [ModelFile(**f) for f in lst] for eng, lst in d.get("files", {}).items()}
        sources = {key: [ModelFile(**f) for f in lst] for key, lst in d.get("sources", {}).items()}
        convert = d.get("convert", {})
        if isinstance(convert, list):
            convert = {eng: "onnxruntime" for eng in convert}
        return cls(name=d["name"], task=d["task"], description=d.get("description", ""),
                   license=d.get("license", ""), source=d.get("source", ""),
                   input=d.get("input", {}), outputs=d.get("outputs", {}), files=files,
                   convert=dict(convert), sources=sources)

    @property
    def engines(self) -> List[str]:
        return sorted(set(self.files) | set(self.convert))


def manifest_dirs() -> List[Path]:
    """Where manifests are read from: the installed package, then a source checkout's ``models/``."""
    here = Path(__file__).resolve().parent
    return [d for d in (here / "manifests", here.parent / "models") if d.is_dir()]


def list_manifests() -> Dict[str, Manifest]:
    found: Dict[str, Manifest] = {}
    for d in manifest_dirs():
        for p in sorted(d.glob("*.json")):
            m = Manifest.from_dict(json.loads(p.read_text()))
            found.setdefault(m.name, m)
    return found


def get_manifest(name: str) -> Manifest:
    manifests = list_manifests()
    if name not in manifests:
        raise ModelNotFoundError(
            f"unknown model '{name}' (not a file path either); known models: {sorted(manifests)}")
    return manifests[name]


def mirror_dirs() -> List[Path]:
    raw = os.environ.get(ENV_MIRROR, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p]


def cache_dir() -> Path:
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "edgecv").expanduser()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, expected: str) -> Path:
    actual = sha256_file(path)
    if actual != expected.lower():
        raise ChecksumError(f"sha256 mismatch for {path}: expected {expected}, got {actual}")
    return path


def _mirror_paths(directory: Path, model: str, filename: str) -> List[Path]:
    """Where a mirror directory may hold a model's file: ``<dir>/<model>/<file>`` or ``<dir>/<file>``."""
    return [Path(directory) / model / filename, Path(directory) / filename]


def _candidates(model: str, filename: str) -> List[Path]:
    paths = [p for d in mirror_dirs() for p in _mirror_paths(d, model, filename)]
    paths.append(cache_dir() / model / filename)
    return paths


def _download(url: str, dest: Path, sha256: str) -> Path:
    if not url:
        raise DownloadError(f"{dest.name} has no public download URL (see the model's manifest); "
                            f"put it in a mirror directory named by {ENV_MIRROR}")
    if os.environ.get(ENV_OFFLINE, "") not in ("", "0"):
        raise DownloadError(f"{dest.name} is not in the mirror or cache and {ENV_OFFLINE} is set")
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s -> %s", url, dest)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            shutil.copyfileobj(resp, out)
        verify(Path(tmp), sha256)
        os.replace(tmp, dest)
    except ChecksumError:
        raise
    except Exception as exc:
        raise DownloadError(f"cannot download {url}: {exc} (offline? point {ENV_MIRROR} at a "
                            f"directory holding the model files)") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def resolve_files(manifest: Manifest, engine: str, download: bool = True) -> List[Path]:
    """Local, verified paths of the model's files for ``engine``."""
    if engine not in manifest.files and engine in manifest.convert:
        return _converted_files(manifest, engine, download)
    if engine not in manifest.files:
        raise ModelNotFoundError(
            f"model '{manifest.name}' has no {engine} files (available: {sorted(manifest.files)}); "
            f"convert the ONNX file with `edgecv convert --to {'ncnn' if engine == 'ncnn' else 'mnn'}` "
            f"and load the result by path")
    return [_resolve_file(manifest.name, f, download) for f in manifest.files[engine]]


def _resolve_file(model: str, f: ModelFile, download: bool) -> Path:
    """One verified local file: mirror, cache, or download into the cache."""
    local = next((p for p in _candidates(model, f.name) if p.is_file()), None)
    if local is not None:
        return verify(local, f.sha256)
    if download:
        return _download(f.url, cache_dir() / model / f.name, f.sha256)
    raise ModelNotFoundError(
        f"{f.name} of model '{model}' is not in the mirror ({ENV_MIRROR}="
        f"{os.environ.get(ENV_MIRROR, '')!r}) or the cache ({cache_dir()})")


def _conversion_source(manifest: Manifest, engine: str) -> ModelFile:
    """The ONNX file that ``engine``'s files are converted from: the manifest's own, or a ``sources`` entry."""
    key = manifest.convert[engine]
    files = manifest.files if key == "onnxruntime" else manifest.sources
    if key not in files:
        raise ModelNotFoundError(f"manifest of '{manifest.name}' converts {engine} from unknown source '{key}'")
    return files[key][0]


def _converted_files(manifest: Manifest, engine: str, download: bool) -> List[Path]:
    """Files for ``engine`` converted from the manifest's ONNX file, cached and re-verified: reused
    while their metadata names the same source sha256 and every file still has its recorded sha256."""
    from .engines import engine_class

    engine_class(engine).require_package()  # before any conversion work
    entry = _conversion_source(manifest, engine)
    source, source_sha = _resolve_file(manifest.name, entry, download), entry.sha256
    out_dir = cache_dir() / manifest.name / f"converted-{engine}"
    meta_file = out_dir / f"{manifest.name}.edgecv.json"
    if meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        entries = meta.get("files", {}).get(engine, [])
        paths = [out_dir / f["name"] for f in entries]
        if (entries and meta.get("source", {}).get("sha256") == source_sha
                and all(p.is_file() and sha256_file(p) == f["sha256"] for p, f in zip(paths, entries))):
            return paths
    from .convert import convert

    log.info("converting %s for %s into %s", manifest.name, engine, out_dir)
    result = convert(source, manifest.task, out_dir=out_dir, to=[engine], name=manifest.name)
    return result.files[engine]


def _fetch_file(model: str, f: ModelFile, mirror: Optional[Path]) -> Path:
    """One file into the cache, verified: copied from ``mirror``, kept if cached, else downloaded."""
    dest = cache_dir() / model / f.name
    if mirror is not None:
        src = next((p for p in _mirror_paths(mirror, model, f.name) if p.is_file()), None)
        if src is None:
            raise ModelNotFoundError(f"{f.name} not found in mirror {mirror}")
        verify(src, f.sha256)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        return dest
    if dest.is_file():
        return verify(dest, f.sha256)
    return _download(f.url, dest, f.sha256)


def fetch(name: str, engines: Optional[List[str]] = None, mirror: Optional[Path] = None) -> List[Path]:
    """Copy (from ``mirror``) or download a model's files into the cache, verified; returns paths.
    Engines converted on first use get their source copied, then are converted into the cache."""
    manifest = get_manifest(name)
    out = []
    for engine in engines or sorted(manifest.files):
        if engine in manifest.convert and engine not in manifest.files:
            _fetch_file(name, _conversion_source(manifest, engine), mirror)
            out += _converted_files(manifest, engine, download=mirror is None)
        elif engine in manifest.files:
            out += [_fetch_file(name, f, mirror) for f in manifest.files[engine]]
        else:
            raise InvalidInputError(f"model '{name}' has no {engine} files")
    return out


def available_models() -> Dict[str, Dict[str, bool]]:
    """For each manifest: which engines have all their files locally (mirror or cache); engines
    converted on first use count once their converted files are cached."""
    result = {}
    for name, m in list_manifests().items():
        local = {eng: all(any(p.is_file() for p in _candidates(name, f.name)) for f in files)
                 for eng, files in m.files.items()}
        for eng in m.convert:
            local.setdefault(eng, (cache_dir() / name / f"converted-{eng}" / f"{name}.edgecv.json").is_file())
        result[name] = local
    return result
