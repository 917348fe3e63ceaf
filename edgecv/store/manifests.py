"""Model manifests: ``edgecv/manifests/<name>.json``, shipped inside the package.

A manifest names a model's task, its input/output contract (the same fields as converter metadata),
and for each engine the files with their sha256 and public URL. Engines listed under ``convert`` get
their files converted on first use, from the ONNX file or from a ``sources`` entry.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..errors import ModelNotFoundError
from ..targets import ENGINE_NAMES, REFERENCE, TARGETS
from .metadata import FILES_SCHEMA, INPUT_SCHEMA, LICENCE_SCHEMA, OUTPUTS_SCHEMA, ModelConfig, check_metadata

_FILE_LIST = {"type": "array", "minItems": 1, "items": {
    "type": "object", "required": ["name", "sha256"],
    "properties": {"name": FILES_SCHEMA["additionalProperties"]["items"]["properties"]["name"],
                   "sha256": FILES_SCHEMA["additionalProperties"]["items"]["properties"]["sha256"],
                   "url": {"type": "string"}}}}

MANIFEST_SCHEMA = {
    "type": "object",
    "required": ["name", "task", "files", "licence", "source"],
    "properties": {
        "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,128}$"},
        "task": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        # an SPDX id (Apache-2.0, MIT) or a short phrase ("non-commercial research only"), and where it is stated
        "licence": LICENCE_SCHEMA, "source": {"type": "string", "minLength": 1},
        "mirror": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,128}$"},
        "input": INPUT_SCHEMA, "outputs": OUTPUTS_SCHEMA,
        "files": {"type": "object", "propertyNames": {"enum": list(ENGINE_NAMES)}, "additionalProperties": _FILE_LIST},
        "sources": {"type": "object", "additionalProperties": _FILE_LIST},
        "convert": {"anyOf": [{"type": "array", "items": {"enum": list(ENGINE_NAMES)}},
                              {"type": "object", "propertyNames": {"enum": list(ENGINE_NAMES)},
                               "additionalProperties": {"type": "string"}}]},
    },
}


@dataclass(frozen=True)
class ModelFile:
    name: str
    sha256: str
    url: str = ""


@dataclass(frozen=True)
class Manifest:
    """A model's manifest: task, input contract, output contract and files per engine."""

    name: str
    task: str
    description: str
    #: SPDX id or short phrase ("non-commercial research only")
    licence: str
    #: where the model (and its licence) comes from: a URL
    source: str
    input: Dict[str, Any]
    outputs: Dict[str, Any]
    files: Dict[str, List[ModelFile]] = field(default_factory=dict)
    #: engine -> what its files are converted from on first use: "onnxruntime" (the ONNX file in
    #: ``files``) or a key of ``sources``
    convert: Dict[str, str] = field(default_factory=dict)
    #: extra ONNX files that are only conversion sources (e.g. a portable variant of the graph)
    sources: Dict[str, List[ModelFile]] = field(default_factory=dict)
    #: the mirror folder holding the files when several models share one (default: the model's name)
    mirror: str = ""

    @classmethod
    def from_dict(cls, d: Dict[str, Any], origin: str = "manifest") -> "Manifest":
        import jsonschema

        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(MANIFEST_SCHEMA).iter_errors(d))
        if error is not None:
            raise ModelNotFoundError(f"{origin}: invalid manifest ({error.message[:160]})")
        check_metadata({k: d[k] for k in ("input", "outputs") if k in d}, origin)
        files = {eng: [ModelFile(**f) for f in lst] for eng, lst in d["files"].items()}
        sources = {key: [ModelFile(**f) for f in lst] for key, lst in d.get("sources", {}).items()}
        convert = d.get("convert", {})
        if isinstance(convert, list):
            convert = {eng: REFERENCE for eng in convert}
        return cls(name=d["name"], task=d["task"], description=d.get("description", ""), licence=d["licence"],
                   source=d["source"], input=d.get("input", {}), outputs=d.get("outputs", {}), files=files,
                   convert=dict(convert), sources=sources, mirror=d.get("mirror") or d["name"])

    @property
    def engines(self) -> List[str]:
        """Engines this model runs on: its own files, ONNX read directly, or converted on first use."""
        return [e for e in ENGINE_NAMES if self.files_source(e) is not None or e in self.convert]

    def files_source(self, engine: str) -> Optional[str]:
        """The key of ``files`` whose files ``engine`` loads as they are (its own, or the ONNX file for engines
        that read ONNX), or None when they must be converted."""
        if engine in self.files:
            return engine
        if TARGETS[engine].reads_onnx and REFERENCE in self.files:
            return REFERENCE
        return None

    def config(self) -> ModelConfig:
        return ModelConfig(name=self.name, task=self.task, input=dict(self.input), outputs=dict(self.outputs),
                           licence=self.licence, origin=self.source)

    def conversion_source(self, engine: str) -> ModelFile:
        """The ONNX file that ``engine``'s files are converted from."""
        key = self.convert[engine]
        files = self.files if key == REFERENCE else self.sources
        if key not in files:
            raise ModelNotFoundError(f"manifest of '{self.name}' converts {engine} from unknown source '{key}'")
        return files[key][0]


def manifest_dirs() -> List[Path]:
    """Where manifests are read from: the package's ``manifests/`` folder (in every wheel, pure or not)."""
    here = Path(__file__).resolve().parents[1] / "manifests"
    return [here] if here.is_dir() else []


@functools.lru_cache(maxsize=4)
def _read_manifests(dirs: Tuple[Path, ...]) -> Dict[str, Manifest]:
    found: Dict[str, Manifest] = {}
    for d in dirs:
        for p in sorted(d.glob("*.json")):
            m = Manifest.from_dict(json.loads(p.read_text()), str(p))
            found.setdefault(m.name, m)
    return found


def list_manifests() -> Dict[str, Manifest]:
    return dict(_read_manifests(tuple(manifest_dirs())))


def get_manifest(name: str) -> Manifest:
    manifests = list_manifests()
    if name not in manifests:
        raise ModelNotFoundError(
            f"unknown model '{name}' (not a file path either); known models: {sorted(manifests)}")
    return manifests[name]
