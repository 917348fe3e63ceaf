"""What a batch run reads: input arguments -> items (one output row each) -> jobs (what one worker call does).

An *item* is one image file, one member of a tar/zip archive, one frame of a video, or (for multi-view
stereo models) one reference view of a scene folder. Its ``key`` is a hash of where it comes from
(absolute path, member, frame/view), the same in every run, so a resumed run can skip finished items.
A *job* groups up to ``JOB_ITEMS`` items of one source so a worker opens each file or archive once.

Inputs are read in place: archives are not unpacked (uncompressed tar and zip members are read by
offset / name in the worker; compressed tar members are streamed once by the driver), videos are decoded
by the worker from a seek to the job's first frame.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from ..errors import ImageReadError, InvalidInputError
from ..image import decode_image
from ..streams.sources import IMAGE_SUFFIXES, VIDEO_SUFFIXES

log = logging.getLogger(__name__)

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
JOB_ITEMS = 8          # images / archive members per job
VIDEO_JOB_FRAMES = 32  # frames per video job


@dataclass(frozen=True)
class Item:
    """One output row's input: ``path`` (absolute), ``member`` (archive member name), ``frame`` (video
    frame number or MVS reference view)."""

    path: str
    kind: str  # "image" | "tar" | "zip" | "video" | "scene"
    member: Optional[str] = None
    frame: Optional[int] = None
    offset: Optional[int] = None  # uncompressed tar: byte offset and size of the member's data
    size: Optional[int] = None

    @property
    def key(self) -> str:
        where = f"{self.path}\0{self.member or ''}\0{'' if self.frame is None else self.frame}"
        return hashlib.sha1(where.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass
class Job:
    """Items of one source for one worker call; ``data`` holds member bytes streamed from a compressed tar."""

    kind: str
    path: str
    items: List[Item]
    data: Dict[str, bytes] = field(default_factory=dict)


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in TAR_SUFFIXES:
        if name.endswith(s):
            return s
    return path.suffix.lower()


def _kind(path: Path) -> Optional[str]:
    s = _suffix(path)
    if s in IMAGE_SUFFIXES:
        return "image"
    if s in VIDEO_SUFFIXES:
        return "video"
    if s in TAR_SUFFIXES:
        return "tar"
    if s == ".zip":
        return "zip"
    return None


def is_scene(folder: Path) -> bool:
    return (folder / "pair.txt").is_file() and (folder / "cams").is_dir()


def _walk(folder: Path, scenes: bool) -> Iterator[Path]:
    """Files (or scene folders) under ``folder``, recursively, in a stable order; hidden entries skipped."""
    if scenes and is_scene(folder):
        yield folder
        return
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise InvalidInputError(f"cannot list folder {folder}: {exc.strerror or exc}") from exc
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            yield from _walk(entry, scenes)
        elif not scenes and _kind(entry) is not None:
            yield entry


def _from_list(listing: Path) -> List[str]:
    """Non-empty, non-# lines of a text file, relative paths taken from the list's folder."""
    try:
        lines = listing.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read the list of inputs {listing}: {exc}") from exc
    out = []
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line if os.path.isabs(line) else str(listing.parent / line))
    return out


def expand(inputs: Sequence[str], scenes: bool = False) -> List[Path]:
    """Input arguments -> absolute files (images, videos, archives) or scene folders, deduplicated.
    Folders are walked recursively, globs expanded, ``.txt`` files read as lists of paths (one per line).
    Raises InvalidInputError for an input that does not exist or matches nothing."""
    found: Dict[str, Path] = {}

    def add(arg: str, from_list: Optional[str] = None) -> None:
        where = f" (listed in {from_list})" if from_list else ""
        if glob.has_magic(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                raise InvalidInputError(f"{arg}{where}: the pattern matches no file")
            for m in matches:
                add(m, from_list)
            return
        p = Path(arg).expanduser()
        if p.is_dir():
            hits = list(_walk(p, scenes))
            if not hits and not from_list:
                what = "scene folders (with pair.txt and cams/)" if scenes else "images, videos or archives"
                raise InvalidInputError(f"{arg}: the folder holds no {what}")
            for h in hits:
                found.setdefault(str(h.resolve()), h.resolve())
        elif p.is_file():
            if p.suffix.lower() == ".txt" and not from_list:
                for line in _from_list(p):
                    add(line, str(p))
            elif scenes:
                raise InvalidInputError(f"{arg}{where}: multi-view stereo models take scene folders, not files")
            else:
                # Listed or named explicitly: an unknown suffix is tried as an image (an error row if it is not).
                found.setdefault(str(p.resolve()), p.resolve())
        else:
            raise InvalidInputError(f"{arg}{where}: no such file or folder")

    for arg in inputs:
        add(str(arg))
    if not found:
        raise InvalidInputError("no inputs to process")
    return list(found.values())


def _video_frames(path: Path, every: int) -> List[int]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return []
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if count <= 0:  # no count in the header: count by decoding
            while cap.grab():
                count += 1
    finally:
        cap.release()
    return list(range(0, count, every))


def items_of(path: Path, every: int = 1, scene_views: Optional[Any] = None) -> List[Item]:
    """The items of one expanded input. A source that cannot be opened is one item that will become an
    error row (a broken archive or video must not stop the run)."""
    p = str(path)
    if scene_views is not None:
        return [Item(p, "scene", frame=v) for v in scene_views(path)]
    kind = _kind(path) or "image"
    if kind == "video":
        frames = _video_frames(path, every)
        return [Item(p, "video", frame=f) for f in frames] if frames else [Item(p, "video")]
    if kind == "zip":
        try:
            with zipfile.ZipFile(path) as z:
                names = [i.filename for i in z.infolist()
                         if not i.is_dir() and _kind(Path(i.filename)) == "image"]
        except (OSError, zipfile.BadZipFile, ValueError) as exc:
            log.debug("cannot list %s: %s", path, exc)
            return [Item(p, "zip")]
        return [Item(p, "zip", member=n) for n in sorted(names)]
    if kind == "tar":
        try:
            try:
                with tarfile.open(path, mode="r:") as t:  # uncompressed: members are read by offset
                    members, plain = t.getmembers(), True
            except tarfile.ReadError:
                with tarfile.open(path, mode="r:*") as t:
                    members, plain = t.getmembers(), False
            members = [m for m in members if m.isfile() and _kind(Path(m.name)) == "image"]
        except (OSError, tarfile.TarError, EOFError, ValueError) as exc:
            log.debug("cannot list %s: %s", path, exc)
            return [Item(p, "tar")]
        return [Item(p, "tar", member=m.name, offset=m.offset_data if plain else None, size=m.size)
                for m in members]
    return [Item(p, "image")]


def _compressed_tar(item: Item) -> bool:
    return item.kind == "tar" and item.member is not None and item.offset is None


def jobs_of(items: Iterable[Item]) -> Iterator[Job]:
    """Group consecutive items of one source into jobs. Members of a compressed tar are read here, in one
    streaming pass over the archive (``items`` keep each archive's members together, in archive order)."""
    stream: Optional[Tuple[str, Any, Iterator[Any]]] = None
    current: Optional[Job] = None

    def finish(job: Job) -> Job:
        nonlocal stream
        if not _compressed_tar(job.items[0]):
            return job
        if stream is None or stream[0] != job.path:
            if stream is not None:
                stream[1].close()
            try:
                t = tarfile.open(job.path, mode="r|*")
                stream = (job.path, t, iter(t))
            except (OSError, tarfile.TarError, EOFError) as exc:
                stream = None
                log.debug("cannot stream %s: %s", job.path, exc)
                return job
        wanted = {i.member for i in job.items}
        try:
            while wanted - set(job.data):
                m = next(stream[2])
                if m.name in wanted and m.isfile():
                    f = stream[1].extractfile(m)
                    job.data[m.name] = f.read() if f is not None else b""
        except (StopIteration, OSError, tarfile.TarError, EOFError, ValueError) as exc:
            log.debug("stream of %s ended early: %s", job.path, exc)
        return job

    try:
        for item in items:
            limit = VIDEO_JOB_FRAMES if item.kind == "video" else JOB_ITEMS
            same = current is not None and current.kind == item.kind and (
                current.path == item.path or item.kind == "image")
            if current is None or not same or len(current.items) >= limit:
                if current is not None:
                    yield finish(current)
                current = Job(item.kind, item.path, [])
            current.items.append(item)
        if current is not None:
            yield finish(current)
    finally:
        if stream is not None:
            stream[1].close()


def plan(paths: Sequence[Path], every: int, done: Set[str], scene_views: Optional[Any] = None
         ) -> Tuple[List[Item], int]:
    """All items of ``paths`` -> (items still to do, in source order; how many were already done)."""
    todo, skipped = [], 0
    for path in paths:
        for item in items_of(path, every, scene_views):
            if item.key in done:
                skipped += 1
            else:
                todo.append(item)
    return todo, skipped


# -- reading, in the worker -----------------------------------------------------------------------
def read_job(job: Job) -> Iterator[Tuple[Item, Any]]:
    """(item, BGR image or the exception that stopped reading it) for every item of ``job``, in order."""
    from ..image import read_image

    if job.kind == "image":
        for item in job.items:
            try:
                yield item, read_image(item.path)
            except Exception as exc:  # noqa: BLE001 - every failure becomes that item's error row
                yield item, exc
    elif job.kind == "video":
        yield from _read_video(job)
    elif job.kind == "zip":
        yield from _read_zip(job)
    elif job.kind == "tar":
        yield from _read_tar(job)
    else:
        raise InvalidInputError(f"unknown job kind {job.kind!r}")


def _unreadable(job: Job, why: str) -> Iterator[Tuple[Item, Any]]:
    for item in job.items:
        yield item, ImageReadError(f"{job.path}: {why}")


def _read_video(job: Job) -> Iterator[Tuple[Item, Any]]:
    import cv2

    if job.items[0].frame is None:
        yield from _unreadable(job, "cannot open the video (unknown format or broken file)")
        return
    cap = cv2.VideoCapture(job.path)
    try:
        if not cap.isOpened():
            yield from _unreadable(job, "cannot open the video")
            return
        position = 0
        first = job.items[0].frame
        if first and cap.set(cv2.CAP_PROP_POS_FRAMES, first):
            position = first
        for item in job.items:
            ok = True
            while ok and position < item.frame:
                ok = cap.grab()
                position += 1
            ok, frame = cap.read() if ok else (False, None)
            position += 1
            if not ok or frame is None:
                yield item, ImageReadError(f"{job.path}: frame {item.frame} cannot be read (the video ends "
                                           "early or is damaged there)")
                position = item.frame + 1
                cap.set(cv2.CAP_PROP_POS_FRAMES, position)
            else:
                yield item, frame
    finally:
        cap.release()


def _read_zip(job: Job) -> Iterator[Tuple[Item, Any]]:
    if job.items[0].member is None:
        yield from _unreadable(job, "not a readable zip archive")
        return
    try:
        z = zipfile.ZipFile(job.path)
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        yield from _unreadable(job, f"cannot open the zip archive ({exc})")
        return
    with z:
        for item in job.items:
            try:
                yield item, decode_image(z.read(item.member), f"{job.path}:{item.member}")
            except Exception as exc:  # noqa: BLE001 - a bad member is that member's error row
                yield item, exc


def _read_tar(job: Job) -> Iterator[Tuple[Item, Any]]:
    if job.items[0].member is None:
        yield from _unreadable(job, "not a readable tar archive")
        return
    where = f"{job.path}:" + "{}"
    if job.items[0].offset is None:  # compressed: bytes streamed by the driver
        for item in job.items:
            data = job.data.get(item.member)  # type: ignore[arg-type]
            if data is None or isinstance(data, BaseException):
                yield item, ImageReadError(f"{where.format(item.member)}: missing (the archive is truncated or damaged)")
                continue
            try:
                yield item, decode_image(data, where.format(item.member))
            except Exception as exc:  # noqa: BLE001
                yield item, exc
        return
    try:
        f = open(job.path, "rb")
    except OSError as exc:
        yield from _unreadable(job, f"cannot open the archive ({exc.strerror or exc})")
        return
    with f:
        for item in job.items:
            try:
                f.seek(item.offset)  # type: ignore[arg-type]
                data = f.read(item.size)  # type: ignore[arg-type]
                if len(data) != item.size:
                    raise ImageReadError(f"{where.format(item.member)}: the archive is truncated")
                yield item, decode_image(data, where.format(item.member))
            except Exception as exc:  # noqa: BLE001
                yield item, exc
