"""Calibration and held-out inputs for quantisation, in the task's own kind: images for image tasks, the
reference views of a scene for MVS.

The folder given as ``--calib`` is split in two by content hash (sha256 of each file): a share of it is held
out and only ever used to judge the quantised model against its fp32 reference; the rest calibrates. The
split does not depend on file names or order, so renaming or copying the folder gives the same split. A
separate held-out folder may be given instead; an image in both is refused. Feeds come from the model's own
``prepare()`` (no second copy of any task's preprocessing).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import CalibrationError, EdgecvError, InvalidInputError
from ..tasks import IMAGE, TaskSpec

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
#: Share of the calibration folder held out to judge the result (every 1/share-th image by content hash).
HOLDOUT_SHARE = 0.25
#: Most inputs calibrated on: more are sampled evenly (by content hash), and the log says so.
MAX_CALIBRATION = 200
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Sample:
    """One calibration or held-out input: what ``model.prepare(item, **options)`` takes."""

    label: str
    item: Any
    options: Dict[str, Any]
    digest: str


@dataclass
class CalibrationSplit:
    """The inputs to calibrate on and the held-out ones the quantised model is judged on."""

    calibrate: List[Sample]
    holdout: List[Sample]
    source: str
    holdout_source: str

    def describe(self) -> Dict[str, Dict[str, Any]]:
        """For the model's metadata: how many inputs, the sha256 of the set (order-independent), where from."""
        return {"calibration": {"inputs": len(self.calibrate), "sha256": set_digest(self.calibrate),
                                "source": self.source},
                "holdout": {"inputs": len(self.holdout), "sha256": set_digest(self.holdout),
                            "source": self.holdout_source}}


def set_digest(samples: Sequence[Sample]) -> str:
    """sha256 of a set of inputs, independent of their order and names."""
    return hashlib.sha256("\n".join(sorted(s.digest for s in samples)).encode()).hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _folder(path: Union[str, os.PathLike], what: str) -> Path:
    folder = Path(path)
    if not folder.exists():
        raise CalibrationError(f"{what} folder {folder} does not exist")
    if not folder.is_dir():
        raise CalibrationError(f"{what} {folder} is not a folder")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise CalibrationError(f"{what} folder {folder} cannot be read (permission denied)")
    return folder


def _image_samples(path: Union[str, os.PathLike], what: str) -> List[Sample]:
    """Every image in a folder (by suffix, hidden files skipped), each decodable (strictly: a damaged image would
    calibrate on grey); duplicates by content once."""
    from ..image import read_image

    folder = _folder(path, what)
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    except OSError as exc:
        raise CalibrationError(f"{what} folder {folder} cannot be listed: {exc.strerror or exc}") from None
    samples: Dict[str, Sample] = {}
    bad = []
    for f in files:
        try:
            digest = file_digest(f)
            read_image(f)
        except EdgecvError as exc:
            bad.append(f"{f.name} ({' '.join(str(exc).split())[:160]})")
            continue
        except OSError as exc:
            bad.append(f"{f.name} ({exc.strerror or exc})")
            continue
        if digest in samples:
            log.info("%s: %s is a copy of %s; used once", folder, f.name, samples[digest].label)
            continue
        samples[digest] = Sample(f.name, f, {}, digest)
    if bad:
        raise CalibrationError(f"{what} folder {folder}: {len(bad)} image(s) cannot be read: {', '.join(bad[:5])}"
                               + (" ..." if len(bad) > 5 else "") + "; remove or replace them")
    if not samples:
        raise CalibrationError(f"{what} folder {folder} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return list(samples.values())


def _view_samples(path: Union[str, os.PathLike], what: str) -> List[Sample]:
    """Every view of a scene folder as a reference view."""
    from ..tasks.mvs import load_scene

    folder = _folder(path, what)
    try:
        scene = load_scene(folder)
    except EdgecvError as exc:
        raise CalibrationError(f"{what} folder {folder} is not a usable scene: {exc}") from None
    scene_digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()
    out = []
    for v in scene.views:
        image = scene.image_paths.get(v)
        digest = file_digest(image) if image is not None and Path(image).is_file() else f"{scene_digest}:{v}"
        out.append(Sample(f"view {v}", scene, {"ref": v}, digest))
    return out


def split_calibration(spec: TaskSpec, calib: Union[str, os.PathLike], holdout: Optional[Union[str, os.PathLike]] = None,
                      *, share: float = HOLDOUT_SHARE, minimum: Optional[Tuple[int, int]] = None,
                      max_calibration: int = MAX_CALIBRATION) -> CalibrationSplit:
    """Calibration and held-out samples for a model of task ``spec``.

    ``calib``: a folder of images (image tasks) or a scene folder (MVS). ``holdout``: a folder to judge on
    instead of a share of ``calib``. ``minimum``: (calibrate, held out) counts required (default: the
    task's ``min_calibration``). CalibrationError names the folder and what is missing."""
    if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0.05 <= share <= 0.5:
        raise InvalidInputError(f"the held-out share must be a number in [0.05, 0.5], got {share!r}")
    need_cal, need_hold = minimum or spec.min_calibration
    read = _image_samples if spec.inputs == IMAGE else _view_samples
    noun = "images" if spec.inputs == IMAGE else "views"
    samples = read(calib, "calibration")
    source = Path(calib).name
    if holdout is None:
        ordered = sorted(samples, key=lambda s: s.digest)
        step = max(2, int(round(1 / share)))
        held = ordered[::step]
        cal = [s for i, s in enumerate(ordered) if i % step]
        holdout_source = f"{source} (every {step}th by content hash)"
        if len(cal) < need_cal or len(held) < need_hold:
            total = next(n for n in range(1, 1 << 20)
                         if n - math.ceil(n / step) >= need_cal and math.ceil(n / step) >= need_hold)
            raise CalibrationError(
                f"quantising {spec.name} models needs at least {need_cal} {noun} to calibrate on and {need_hold} held "
                f"out to judge the result ({total} in one folder, {100 // step} % held out); {Path(calib)} has "
                f"{len(samples)}. Add {noun} like those the model will see" + _advice(spec))
    else:
        held = read(holdout, "held-out")
        cal = samples
        holdout_source = Path(holdout).name
        shared = {s.digest for s in cal} & {s.digest for s in held}
        if shared:
            names = [s.label for s in held if s.digest in shared][:5]
            raise CalibrationError(f"{', '.join(names)} in {Path(holdout)} is also in the calibration folder: the "
                                   "result must be judged on inputs the calibration never saw")
        if len(cal) < need_cal or len(held) < need_hold:
            raise CalibrationError(
                f"quantising {spec.name} models needs at least {need_cal} {noun} to calibrate on ({Path(calib)} has "
                f"{len(cal)}) and {need_hold} held out to judge the result ({Path(holdout)} has {len(held)})"
                + _advice(spec))
    if len(cal) > max_calibration:
        log.info("calibrating on %d of %d %s (evenly by content hash)", max_calibration, len(cal), noun)
        picks = np.linspace(0, len(cal) - 1, max_calibration).round().astype(int)
        cal = [cal[i] for i in sorted(set(picks.tolist()))]
    return CalibrationSplit(cal, held, source, holdout_source)


def check_disjoint(split: "CalibrationSplit", truth: Any) -> None:
    """CalibrationError when an image of the labelled dataset ``truth`` judges on (``truth.image_paths()``) is also a
    calibration or held-out image (by content): a model is never judged on what it was calibrated on."""
    seen = {s.digest for s in list(split.calibrate) + list(split.holdout)}
    for path in truth.image_paths():
        try:
            digest = file_digest(Path(path))
        except OSError:
            continue  # a missing image is the evaluation's error to report
        if digest in seen:
            raise CalibrationError(f"{Path(path).name} of the labelled data is also in the calibration folder: the "
                                   "result must be judged on images the calibration never saw")


def _advice(spec: TaskSpec) -> str:
    if spec.calibration_advice:
        return f" ({spec.calibration_advice})."
    if spec.inputs == IMAGE:
        return f" (with {spec.nouns[1]} at the sizes and in the scenes of the deployment)."
    return "."


def feeds(model, samples: Sequence[Sample]) -> Iterator[Dict[str, np.ndarray]]:
    """The engine feeds of each sample through ``model.prepare`` (the task's own preprocessing)."""
    for s in samples:
        try:
            yield model.prepare(s.item, **s.options).feeds
        except EdgecvError as exc:
            raise CalibrationError(f"{s.label}: {exc}") from None
