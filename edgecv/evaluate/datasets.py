"""Labelled datasets for ``edgecv eval``: images (or scenes) and their ground truth, in the formats the benchmarks
publish them in.

- ``widerface``: WIDER FACE val: ``images/<event>/<name>.jpg`` with the official ground truth, either the
  ``wider_face_val.mat`` file plus the ``wider_{easy,medium,hard}_val.mat`` subset files (what the official evaluation
  reads), or the ``wider_face_val_bbx_gt.txt`` layout (no subsets there: one ``all`` subset of the faces not marked
  invalid);
- ``coco``: a COCO annotation JSON over an image folder: boxes of one category (faces a user labelled, say), or
  person keypoints;
- ``voc-faces``: dlib's imglab XML (``<box top left width height>``), as PASCAL VOC face sets are shared;
- ``mvs``: an MVSNet-format scene; ground-truth depth maps beside it (``depths/``, ``depth_gt/``, ``gt_depths/`` or
  BlendedMVS' ``rendered_depth_maps/``, one ``<view:08d>.pfm`` or ``.npy`` per view), or none.

Every parser checks what it reads and raises :class:`edgecv.errors.InvalidInputError` naming the file and what is
wrong.
"""

from __future__ import annotations

import json
import math
import os
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from ..errors import FeatureNotInstalledError, InvalidInputError

FORMATS = ("widerface", "coco", "voc-faces", "mvs")
#: WIDER FACE's difficulty subsets, in the order the official evaluation reports them.
WIDER_SUBSETS = ("easy", "medium", "hard")
#: Folders beside a scene that hold ground-truth depth maps.
DEPTH_FOLDERS = ("depths", "depth_gt", "gt_depths", "rendered_depth_maps")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
#: Largest annotation file read (COCO val2017 keypoints is ~230 MB of which edgecv needs a slice; 1 GiB bounds it).
MAX_LABEL_BYTES = 1 << 30


@dataclass
class BoxSample:
    """One image with its ground-truth boxes: ``boxes`` (N, 4) float64 xyxy in pixels; ``keep`` maps a subset name
    to a (N,) bool mask of the boxes that count in it (the others are ignored: a prediction on one is neither right
    nor wrong)."""

    id: str
    path: Path
    boxes: np.ndarray
    keep: Dict[str, np.ndarray]
    #: WIDER FACE: ``<event>/<name>`` (the submission file's place); COCO: the image id
    ref: Any = None


@dataclass
class KeypointSet:
    """COCO person keypoints: the annotation document (images, annotations, categories) and the image paths."""

    document: Dict[str, Any]
    paths: Dict[int, Path]


@dataclass
class Dataset:
    """What ``edgecv eval`` runs: a task kind (``faces``, ``keypoints``, ``depth``), its samples, and where it came
    from."""

    format: str
    kind: str
    root: Path
    samples: List[Any] = field(default_factory=list)
    subsets: Tuple[str, ...] = ()
    keypoints: Optional[KeypointSet] = None
    #: COCO boxes: the annotation document (for pycocotools) and the category evaluated
    coco: Optional[Dict[str, Any]] = None
    category: Optional[int] = None
    scene: Any = None
    depth_dir: Optional[Path] = None

    def limited(self, limit: Optional[int]) -> "Dataset":
        """The first ``limit`` samples (all with None), in the dataset's own order."""
        if limit is None:
            return self
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise InvalidInputError(f"limit must be a whole number >= 1, got {limit!r:.40}")
        from dataclasses import replace

        return replace(self, samples=self.samples[:limit])

    def describe(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"format": self.format, "root": str(self.root), "samples": len(self.samples)}
        if self.kind == "faces":
            out["faces"] = {s: int(sum(int(x.keep[s].sum()) for x in self.samples)) for s in self.subsets}
        return out


def load_dataset(data: Union[str, os.PathLike], format: Optional[str] = None,
                 labels: Optional[Union[str, os.PathLike]] = None) -> Dataset:
    """The labelled dataset at ``data`` (a folder; ``labels``: the ground-truth file or folder when it is not in
    ``data``). ``format``: one of FORMATS, or None to tell it from the files."""
    root = Path(data)
    if not root.exists():
        raise InvalidInputError(f"--data {root} does not exist")
    fmt = format or _guess_format(root, Path(labels) if labels else None)
    if fmt not in FORMATS:
        raise InvalidInputError(f"format must be one of {list(FORMATS)}, got {fmt!r:.40}")
    label_path = Path(labels) if labels else None
    if label_path is not None and not label_path.exists():
        raise InvalidInputError(f"--labels {label_path} does not exist")
    if fmt == "widerface":
        return load_widerface(root, label_path)
    if fmt == "coco":
        return load_coco(root, label_path)
    if fmt == "voc-faces":
        return load_voc_faces(root, label_path)
    return load_mvs(root, label_path)


def _guess_format(root: Path, labels: Optional[Path]) -> str:
    where = [labels] if labels else [root]
    names = {p.name for w in where if w is not None for p in ([w] if w.is_file() else list(w.iterdir()))}
    if {"cams", "pair.txt"} <= names:
        return "mvs"
    if any(n.endswith(".mat") for n in names) or "wider_face_val_bbx_gt.txt" in names:
        return "widerface"
    if any(n.endswith(".json") for n in names):
        return "coco"
    if any(n.endswith(".xml") for n in names):
        return "voc-faces"
    if root.is_dir() and _wider_labels_near(root) is not None:
        return "widerface"
    raise InvalidInputError(f"cannot tell the format of {root}: give --format ({', '.join(FORMATS)}) and --labels")


def _images_dir(root: Path) -> Path:
    return root / "images" if (root / "images").is_dir() else root


def _read_limited(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_LABEL_BYTES:
        raise InvalidInputError(f"{path} is {size} bytes; annotation files are read up to {MAX_LABEL_BYTES} bytes")
    return path.read_bytes()


# -- WIDER FACE ---------------------------------------------------------------------------------------------------
def _wider_labels_near(root: Path) -> Optional[Path]:
    """The folder or file holding WIDER FACE val ground truth in or near ``root`` (the layouts of the official
    downloads: ``wider_face_split/``, ``eval_tools/ground_truth/``)."""
    for base in (root, root.parent, root.parent.parent):
        for sub in ("", "wider_face_split", "eval_tools/ground_truth", "ground_truth"):
            folder = base / sub if sub else base
            if (folder / "wider_face_val.mat").is_file():
                return folder
            if (folder / "wider_face_val_bbx_gt.txt").is_file():
                return folder / "wider_face_val_bbx_gt.txt"
    return None


def _xywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    b = np.asarray(b, np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def load_widerface(root: Path, labels: Optional[Path] = None) -> Dataset:
    """WIDER FACE val over ``root`` (``images/<event>/*.jpg``, or the folder of events itself). Ground truth from
    ``labels`` (a folder with the .mat files, a .mat file, or the bbx_gt txt), else found near ``root``."""
    source = labels or _wider_labels_near(root)
    if source is None:
        raise InvalidInputError(f"no WIDER FACE ground truth in or near {root}: give --labels (the folder with "
                                "wider_face_val.mat and wider_{easy,medium,hard}_val.mat, "
                                "or wider_face_val_bbx_gt.txt)")
    if source.is_dir():
        mat = source / "wider_face_val.mat"
        txt = source / "wider_face_val_bbx_gt.txt"
        source = mat if mat.is_file() else txt
    if source.suffix == ".mat":
        samples = _wider_from_mat(source)
        subsets: Tuple[str, ...] = WIDER_SUBSETS
    else:
        samples = _wider_from_txt(source)
        subsets = ("all",)
    images = _images_dir(root)
    for s in samples:
        s.path = images / f"{s.ref}.jpg"
    return Dataset("widerface", "faces", root, samples, subsets)


def read_widerface_mat(folder: Path) -> List[BoxSample]:
    """The official val ground truth: every image's boxes, and the easy/medium/hard keep lists (1-based indices of
    the boxes that count in each subset), as ``wider_face_val.mat`` and ``wider_<subset>_val.mat`` store them."""
    return _wider_from_mat(folder / "wider_face_val.mat")


def _loadmat(path: Path) -> Dict[str, Any]:
    try:
        from scipy.io import loadmat
    except ImportError as exc:
        raise FeatureNotInstalledError("reading WIDER FACE .mat files needs scipy: pip install 'edgecv[eval]'") from exc
    try:
        return loadmat(str(path))
    except Exception as exc:  # noqa: BLE001 - scipy raises ValueError/TypeError/MatReadError for damaged files
        raise InvalidInputError(
            f"{path}: not a readable MATLAB file ({type(exc).__name__}: {str(exc)[:120]})") from None


def _wider_from_mat(path: Path) -> List[BoxSample]:
    main = _loadmat(path)
    for key in ("event_list", "file_list", "face_bbx_list"):
        if key not in main:
            raise InvalidInputError(f"{path}: no '{key}': not the WIDER FACE ground truth")
    events, files, boxes = main["event_list"], main["file_list"], main["face_bbx_list"]
    keeps = {}
    for subset in WIDER_SUBSETS:
        sub_path = path.with_name(f"wider_{subset}_val.mat")
        if not sub_path.is_file():
            raise InvalidInputError(f"{sub_path} is missing: the {subset} subset's keep list")
        sub = _loadmat(sub_path)
        if "gt_list" not in sub or len(sub["gt_list"]) != len(events):
            raise InvalidInputError(f"{sub_path}: no gt_list of {len(events)} events")
        keeps[subset] = sub["gt_list"]
    samples = []
    try:
        for e in range(len(events)):
            event = str(events[e][0][0])
            names, event_boxes = files[e][0], boxes[e][0]
            for i in range(len(names)):
                name = str(names[i][0][0])
                b = np.asarray(event_boxes[i][0], np.float64).reshape(-1, 4)
                keep = {}
                for subset in WIDER_SUBSETS:
                    index = np.asarray(keeps[subset][e][0][i][0], np.int64).reshape(-1)
                    if index.size and (index.min() < 1 or index.max() > len(b)):
                        raise InvalidInputError(f"{path.with_name(f'wider_{subset}_val.mat')}: {event}/{name} keeps "
                                                f"box {int(index.max())} of {len(b)}")
                    mask = np.zeros(len(b), bool)
                    mask[index - 1] = True
                    keep[subset] = mask
                samples.append(BoxSample(f"{event}/{name}", Path(), _xywh_to_xyxy(b), keep, ref=f"{event}/{name}"))
    except (IndexError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"{path}: unexpected structure ({type(exc).__name__}: {str(exc)[:100]})") from None
    return samples


def _wider_from_txt(path: Path) -> List[BoxSample]:
    lines = _read_limited(path).decode("utf-8", "replace").splitlines()
    samples, i = [], 0
    while i < len(lines):
        name = lines[i].strip()
        if not name:
            i += 1
            continue
        try:
            count = int(lines[i + 1])
        except (IndexError, ValueError):
            raise InvalidInputError(f"{path}:{i + 2}: expected the face count of {name}") from None
        rows = lines[i + 2: i + 2 + max(count, 1)]  # an image with no face has one line of zeros
        boxes, valid = [], []
        for n, row in enumerate(rows[:count]):
            parts = row.split()
            if len(parts) < 4:
                raise InvalidInputError(f"{path}:{i + 3 + n}: expected x y w h ...")
            boxes.append([float(v) for v in parts[:4]])
            valid.append(len(parts) < 8 or parts[7] == "0")  # the 8th value is 'invalid'
        b = _xywh_to_xyxy(np.array(boxes).reshape(-1, 4))
        ref = name[:-4] if name.lower().endswith(".jpg") else name
        samples.append(BoxSample(ref, Path(), b, {"all": np.array(valid, bool)}, ref=ref))
        i += 2 + max(count, 1)
    if not samples:
        raise InvalidInputError(f"{path}: no images")
    return samples


# -- COCO -----------------------------------------------------------------------------------------------------------
def _one_json(root: Path, labels: Optional[Path]) -> Path:
    if labels is not None and labels.is_file():
        return labels
    folder = labels or root
    found = sorted(folder.glob("*.json"))
    if len(found) != 1:
        raise InvalidInputError(f"expected one COCO annotation .json in {folder}, found {len(found)}: give --labels")
    return found[0]


def load_coco(root: Path, labels: Optional[Path] = None) -> Dataset:
    """A COCO annotation file over ``root`` (its ``images/`` folder, or itself): person keypoints when the
    annotations have them, else the boxes of its one category (or of a category named ``face``)."""
    path = _one_json(root, labels)
    try:
        doc = json.loads(_read_limited(path))
    except ValueError as exc:
        raise InvalidInputError(f"{path}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list) for k in ("images", "annotations",
                                                                                      "categories")):
        raise InvalidInputError(f"{path}: a COCO file has lists 'images', 'annotations' and 'categories'")
    images = _images_dir(root)
    paths: Dict[int, Path] = {}
    for im in doc["images"]:
        if not isinstance(im, dict) or "id" not in im or not isinstance(im.get("file_name"), str):
            raise InvalidInputError(f"{path}: every image needs an id and a file_name")
        paths[int(im["id"])] = images / im["file_name"]
    _check_annotations(doc, path)
    keypoints = any("keypoints" in a for a in doc["annotations"]) and any(
        "keypoints" in c for c in doc["categories"])
    samples: List[Any]
    if keypoints:
        samples = [{"id": i, "path": p} for i, p in paths.items()]
        return Dataset("coco", "keypoints", root, samples, ("all",), keypoints=KeypointSet(doc, paths))
    cats = doc["categories"]
    faces = [c for c in cats if str(c.get("name", "")).lower() == "face"]
    chosen = faces[0] if faces else (cats[0] if len(cats) == 1 else None)
    if chosen is None:
        raise InvalidInputError(f"{path}: {len(cats)} categories and none named 'face': edgecv eval's box detectors "
                                "find faces")
    samples = []
    for image_id, p in paths.items():
        anns = [a for a in doc["annotations"] if a["image_id"] == image_id and a["category_id"] == chosen["id"]]
        b = _xywh_to_xyxy(np.array([a["bbox"] for a in anns], np.float64).reshape(-1, 4))
        keep = np.array([not a.get("iscrowd", 0) for a in anns], bool)
        samples.append(BoxSample(str(image_id), p, b, {"all": keep}, ref=image_id))
    return Dataset("coco", "faces", root, samples, ("all",), coco=doc, category=int(chosen["id"]))


def _check_annotations(doc: Dict[str, Any], path: Path) -> None:
    ids = {int(im["id"]) for im in doc["images"]}
    for n, a in enumerate(doc["annotations"]):
        if not isinstance(a, dict) or a.get("image_id") not in ids:
            raise InvalidInputError(f"{path}: annotation {n} names no image of the file")
        box = a.get("bbox")
        if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) and math.isfinite(v)
                                                                 for v in box) and box[2] >= 0 and box[3] >= 0):
            raise InvalidInputError(f"{path}: annotation {n} has no finite [x, y, w, h] bbox")


# -- dlib's imglab XML (VOC faces) ----------------------------------------------------------------------------------
def load_voc_faces(root: Path, labels: Optional[Path] = None) -> Dataset:
    """dlib's imglab XML (``<image file=...><box top left width height [ignore='1']/>``) over ``root``."""
    if labels is not None and labels.is_file():
        path = labels
    else:
        found = sorted((labels or root).glob("*.xml"))
        if len(found) != 1:
            raise InvalidInputError(f"expected one imglab .xml in {labels or root}, found {len(found)}: give --labels")
        path = found[0]
    try:
        tree = ElementTree.fromstring(_read_limited(path))
    except ElementTree.ParseError as exc:
        raise InvalidInputError(f"{path}: not XML ({exc})") from None
    images = _images_dir(root)
    samples: List[BoxSample] = []
    for image in tree.iter("image"):
        name = image.get("file")
        if not name:
            raise InvalidInputError(f"{path}: an <image> without file=")
        boxes, keep = [], []
        for box in image.iter("box"):
            try:
                top, left, width, height = (float(box.get(k, "nan")) for k in ("top", "left", "width", "height"))
            except ValueError:
                raise InvalidInputError(f"{path}: a box of {name} has a non-numeric value") from None
            if not all(math.isfinite(v) for v in (top, left, width, height)) or width < 0 or height < 0:
                raise InvalidInputError(f"{path}: a box of {name} needs finite top, left, width, height")
            boxes.append([left, top, width, height])
            keep.append(box.get("ignore", "0") not in ("1", "true"))
        b = _xywh_to_xyxy(np.array(boxes, np.float64).reshape(-1, 4))
        samples.append(BoxSample(name, images / name, b, {"all": np.array(keep, bool)}, ref=len(samples) + 1))
    if not samples:
        raise InvalidInputError(f"{path}: no <image> elements")
    return Dataset("voc-faces", "faces", root, samples, ("all",))


def coco_document(dataset: Dataset) -> Dict[str, Any]:
    """A COCO ground-truth document for a box dataset (VOC faces converted; COCO files as they are)."""
    if dataset.coco is not None:
        return dataset.coco
    images: List[Dict[str, Any]] = []
    annotations: List[Dict[str, Any]] = []
    for s in dataset.samples:
        images.append({"id": s.ref, "file_name": s.path.name})
        for b, k in zip(s.boxes, s.keep["all"]):
            w, h = float(b[2] - b[0]), float(b[3] - b[1])
            annotations.append({"id": len(annotations) + 1, "image_id": s.ref, "category_id": 1,
                                "bbox": [float(b[0]), float(b[1]), w, h], "area": w * h, "iscrowd": int(not k)})
    return {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "face"}]}


# -- MVS ------------------------------------------------------------------------------------------------------------
def load_mvs(root: Path, labels: Optional[Path] = None) -> Dataset:
    """A scene (``images/``, ``cams/``, ``pair.txt``) and, when found, its ground-truth depth folder."""
    from ..tasks.mvs import load_scene

    scene = load_scene(root)
    depth_dir = labels if labels is not None and labels.is_dir() else next(
        (root / d for d in DEPTH_FOLDERS if (root / d).is_dir()), None)
    samples = [{"id": str(v), "view": v} for v in scene.views]
    return Dataset("mvs", "depth", root, samples, ("all",), scene=scene, depth_dir=depth_dir)


def ground_truth_depth(dataset: Dataset, view: int) -> Optional[np.ndarray]:
    """The ground-truth depth map of ``view`` ((H, W) float32; 0 or non-finite = no depth), or None."""
    if dataset.depth_dir is None:
        return None
    from ..tasks.mvs import read_depth

    for name in (f"{view:08d}.pfm", f"{view:08d}.npy", f"depth_map_{view:04d}.pfm", f"{view:08d}_depth.pfm"):
        path = dataset.depth_dir / name
        if path.is_file():
            depth = np.asarray(read_depth(path), np.float32)
            if depth.ndim == 3:
                depth = depth[..., 0]
            if depth.ndim != 2:
                raise InvalidInputError(f"{path}: a depth map is (H, W), got {depth.shape}")
            return depth
    return None


__all__ = ["Dataset", "BoxSample", "KeypointSet", "FORMATS", "WIDER_SUBSETS", "load_dataset", "load_widerface",
           "load_coco", "load_voc_faces", "load_mvs", "read_widerface_mat", "coco_document", "ground_truth_depth"]
