"""What a batch run reads: input arguments -> items (one output row each) -> jobs (what one worker call does).

An *item* is one image file, one member of a tar/zip archive, one frame of a video, or (for multi-view
stereo models) one reference view of a scene folder. Its ``key`` is a hash of where it comes from
(absolute path as bytes, archive member name and position, frame/view), the same in every run, so a resumed
run can skip finished items; two archive members with the same name are two items with two keys.
A *job* groups up to ``JOB_ITEMS`` items of one source so a worker opens each file or archive once.

Inputs are read in place: archives are not unpacked (uncompressed tar and zip members are read by
offset / position in the worker; compressed tar members are streamed once by the driver), videos are decoded
by the worker from a seek to the job's first frame.

Archives are untrusted (:class:`ArchiveLimits`): a member larger than ``member_bytes`` (declared or actual),
an archive that inflates past ``total_bytes``, or that inflates more than ``ratio`` times its compressed size
(a zip or tar.gz bomb) is never read whole; the members concerned become error rows
(:class:`edgecv.errors.ArchiveLimitError`) and every other member is processed. File and member names that are
not UTF-8 are kept as they are for reading and written with ``\\xNN`` escapes in the rows.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import hashlib
import io
import logging
import lzma
import os
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from ..errors import ArchiveLimitError, ImageReadError, InvalidInputError
from ..image import decode_image
from ..streams.sources import IMAGE_SUFFIXES, VIDEO_SUFFIXES, printable

log = logging.getLogger(__name__)

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
JOB_ITEMS = 8          # images / archive members per job
JOB_BYTES = 64 << 20   # member bytes a job carries from a compressed tar at most
VIDEO_JOB_FRAMES = 32  # frames per video job
#: Inflation below this many bytes is never called a bomb (tiny archives of small files compress oddly).
RATIO_FLOOR = 16 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    """What one archive may cost: ``member_bytes`` per member (uncompressed, declared or actual),
    ``total_bytes`` inflated from one archive (listing included), and ``ratio``, the most uncompressed bytes per
    compressed byte once more than 16 MiB are inflated (JPEG and PNG barely compress; zeros inflate 1000x)."""

    member_bytes: int = 64 << 20
    total_bytes: int = 16 << 30
    ratio: float = 100.0

    def __post_init__(self) -> None:
        for name in ("member_bytes", "total_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"archive limit {name} must be a whole number of bytes >= 1, got {value!r:.40}")
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, (int, float)) or not 1 <= self.ratio <= 1e6:
            raise InvalidInputError(f"archive limit ratio must be a number in [1, 1e6], got {self.ratio!r:.40}")


@dataclass(frozen=True)
class Item:
    """One output row's input: ``path`` (absolute; undecodable bytes as surrogates), ``member`` (archive member
    name), ``index`` (the member's position in its archive), ``frame`` (video frame number or MVS reference
    view); ``error``: why it will not be read (an archive limit), decided when the archive was listed."""

    path: str
    kind: str  # "image" | "tar" | "zip" | "video" | "scene"
    member: Optional[str] = None
    frame: Optional[int] = None
    offset: Optional[int] = None  # uncompressed tar: byte offset and size of the member's data
    size: Optional[int] = None    # archive members: uncompressed size as declared
    index: Optional[int] = None
    error: Optional[str] = None
    #: ``error`` is an archive limit (ArchiveLimitError) rather than damage (ImageReadError)
    limit: bool = False

    @property
    def key(self) -> str:
        parts = (self.path, self.member or "", "" if self.frame is None else str(self.frame),
                 "" if self.index is None else str(self.index))
        return hashlib.sha1("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()

    @property
    def shown_path(self) -> str:
        """``path`` as valid text (undecodable bytes as ``\\xNN``)."""
        return printable(self.path)

    @property
    def shown_member(self) -> Optional[str]:
        return None if self.member is None else printable(self.member)


@dataclass
class Job:
    """Items of one source for one worker call; ``data`` holds member bytes streamed from a compressed tar (by
    item key)."""

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
        raise InvalidInputError(f"cannot list folder {printable(str(folder))}: {exc.strerror or exc}") from exc
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
        raise InvalidInputError(f"cannot read the list of inputs {printable(str(listing))}: {exc}") from exc
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
        where = f" (listed in {printable(from_list)})" if from_list else ""
        shown = printable(arg)
        if glob.has_magic(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                raise InvalidInputError(f"{shown}{where}: the pattern matches no file")
            for m in matches:
                add(m, from_list)
            return
        p = Path(arg).expanduser()
        if p.is_dir():
            hits = list(_walk(p, scenes))
            if not hits and not from_list:
                what = "scene folders (with pair.txt and cams/)" if scenes else "images, videos or archives"
                raise InvalidInputError(f"{shown}: the folder holds no {what}")
            for h in hits:
                found.setdefault(str(h.resolve()), h.resolve())
        elif p.is_file():
            if p.suffix.lower() == ".txt" and not from_list:
                for line in _from_list(p):
                    add(line, str(p))
            elif scenes:
                raise InvalidInputError(f"{shown}{where}: multi-view stereo models take scene folders, not files")
            else:
                # Listed or named explicitly: an unknown suffix is tried as an image (an error row if it is not).
                found.setdefault(str(p.resolve()), p.resolve())
        else:
            raise InvalidInputError(f"{shown}{where}: no such file or folder")

    for arg in inputs:
        add(os.fsdecode(arg) if isinstance(arg, bytes) else str(arg))
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


# -- archives ------------------------------------------------------------------------------------------
def _mb(n: float) -> str:
    return f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.2f} GiB"


#: Magic bytes of the compressions tar archives come in, and their Python readers.
_COMPRESSIONS = ((b"\x1f\x8b", gzip.GzipFile), (b"BZh", bz2.BZ2File), (b"\xfd7zXZ\x00", lzma.LZMAFile))


def _opener(path: str) -> Optional[Any]:
    """The reader of a compressed file's format, or None for an uncompressed one."""
    with open(path, "rb") as f:
        head = f.read(6)
    return next((opener for magic, opener in _COMPRESSIONS if head.startswith(magic)), None)


class _Inflating(io.RawIOBase):
    """The decompressed stream of a compressed file, refusing (ArchiveLimitError) to inflate past the limits."""

    def __init__(self, path: str, limits: ArchiveLimits) -> None:
        opener = _opener(path)
        self.raw = open(path, "rb")
        self.inner: Any = opener(fileobj=self.raw) if opener is gzip.GzipFile else (
            opener(self.raw) if opener is not None else self.raw)
        self.limits, self.inflated = limits, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.inner.readinto(buffer)
        self.inflated += n
        packed = max(self.raw.tell(), 1)
        if self.inflated > self.limits.total_bytes:
            raise ArchiveLimitError(f"the archive inflates past the limit of {_mb(self.limits.total_bytes)} "
                                    "(--max-archive-gb)")
        if self.inflated > RATIO_FLOOR and self.inflated > self.limits.ratio * packed:
            raise ArchiveLimitError(f"the archive inflates {self.inflated / packed:.0f} times its compressed size "
                                    f"(limit {self.limits.ratio:g}, --max-ratio): a decompression bomb?")
        return n

    def close(self) -> None:
        try:
            if self.inner is not self.raw:
                self.inner.close()
        finally:
            self.raw.close()
            super().close()


def _open_tar(path: str, limits: ArchiveLimits, plain: bool) -> tarfile.TarFile:
    """A tar archive for sequential reading: plain ones seekable (members read by offset later), compressed
    ones as a bounded stream."""
    if plain:
        return tarfile.open(path, mode="r:")
    return tarfile.open(fileobj=io.BufferedReader(_Inflating(path, limits), 1 << 20), mode="r|")


def _member_problem(name: str, size: int, packed: Optional[int], total: int, limits: ArchiveLimits) -> Optional[str]:
    if size > limits.member_bytes:
        return f"member {printable(name)} is {_mb(size)} uncompressed, over the limit of {_mb(limits.member_bytes)} " \
               "(--max-member-mb)"
    if packed is not None and size > RATIO_FLOOR and size > limits.ratio * max(packed, 1):
        return f"member {printable(name)} inflates {size / max(packed, 1):.0f} times (limit {limits.ratio:g}, " \
               "--max-ratio): a decompression bomb?"
    if total + size > limits.total_bytes:
        return f"the archive's members pass {_mb(limits.total_bytes)} uncompressed (--max-archive-gb)"
    return None


def _zip_items(p: str, limits: ArchiveLimits) -> List[Item]:
    with zipfile.ZipFile(p) as z:
        infos = z.infolist()
    items, total = [], 0
    for index, info in enumerate(infos):
        if info.is_dir() or _kind(Path(info.filename)) != "image":
            continue
        problem = _member_problem(info.filename, info.file_size, info.compress_size, total, limits)
        if problem is None:
            total += info.file_size
        items.append(Item(p, "zip", member=info.filename, index=index, size=info.file_size, error=problem,
                          limit=problem is not None))
    return items


def _tar_items(p: str, limits: ArchiveLimits) -> List[Item]:
    plain = _opener(p) is None
    file_size = os.path.getsize(p)
    items: List[Item] = []
    total = 0
    with _open_tar(p, limits, plain) as t:
        index = -1
        try:
            for index, m in enumerate(t):
                if not m.isfile() or _kind(Path(m.name)) != "image":
                    continue
                problem = _member_problem(m.name, m.size, None, total, limits)
                limit = problem is not None
                if problem is None and plain and m.offset_data + m.size > file_size:
                    problem = f"member {printable(m.name)} ends past the end of the archive (truncated)"
                if problem is None:
                    total += m.size
                items.append(Item(p, "tar", member=m.name, index=index, size=m.size, error=problem, limit=limit,
                                  offset=m.offset_data if plain else None))
        except (ArchiveLimitError, tarfile.TarError, EOFError, OSError, zlib.error, ValueError) as exc:
            last = items[-1] if items else None
            cut = plain and last is not None and last.offset is not None and last.size is not None \
                and last.offset + last.size > file_size  # the archive ends inside its last member: that row says so
            if not cut:  # one row for the rest of the archive, which cannot be listed
                limit = isinstance(exc, ArchiveLimitError)
                why = str(exc) if limit else f"the archive is damaged after {index + 1} members ({exc})"
                log.warning("%s: %s", printable(p), why)
                items.append(Item(p, "tar", index=index + 1, error=why, limit=limit))
    return items


def items_of(path: Path, every: int = 1, scene_views: Optional[Any] = None,
             limits: ArchiveLimits = ArchiveLimits()) -> List[Item]:
    """The items of one expanded input. A source that cannot be opened is one item that will become an
    error row (a broken archive or video must not stop the run)."""
    p = str(path)
    if scene_views is not None:
        return [Item(p, "scene", frame=v) for v in scene_views(path)]
    kind = _kind(path) or "image"
    if kind == "video":
        frames = _video_frames(path, every)
        return [Item(p, "video", frame=f) for f in frames] if frames else [Item(p, "video")]
    if kind in ("zip", "tar"):
        try:
            return _zip_items(p, limits) if kind == "zip" else _tar_items(p, limits)
        except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError, ValueError, zlib.error) as exc:
            log.debug("cannot list %s: %s", printable(p), exc)
            return [Item(p, kind)]
    return [Item(p, "image")]


def _compressed_tar(item: Item) -> bool:
    return item.kind == "tar" and item.member is not None and item.offset is None and item.error is None


def jobs_of(items: Iterable[Item], limits: ArchiveLimits = ArchiveLimits()) -> Iterator[Job]:
    """Group consecutive items of one source into jobs. Members of a compressed tar are read here, in one
    streaming pass over the archive (``items`` keep each archive's members together, in archive order), each at
    most its declared size."""
    stream: Optional[Tuple[str, tarfile.TarFile, Iterator[Tuple[int, tarfile.TarInfo]]]] = None
    current: Optional[Job] = None

    def finish(job: Job) -> Job:
        nonlocal stream
        wanted = {i.index: i for i in job.items if _compressed_tar(i)}
        if not wanted:
            return job
        if stream is None or stream[0] != job.path:
            if stream is not None:
                stream[1].close()
            try:
                t = _open_tar(job.path, limits, plain=False)
                stream = (job.path, t, enumerate(t))
            except (OSError, tarfile.TarError, EOFError, ArchiveLimitError, zlib.error) as exc:
                stream = None
                log.debug("cannot stream %s: %s", printable(job.path), exc)
                return job
        try:
            while wanted:
                index, m = next(stream[2])
                item = wanted.pop(index, None)
                if item is not None and m.isfile():
                    f = stream[1].extractfile(m)
                    job.data[item.key] = f.read(item.size + 1) if f is not None else b""  # type: ignore[operator]
        except (StopIteration, OSError, tarfile.TarError, EOFError, ValueError, ArchiveLimitError, zlib.error) as exc:
            log.debug("stream of %s ended early: %s", printable(job.path), exc)
        return job

    try:
        for item in items:
            limit = VIDEO_JOB_FRAMES if item.kind == "video" else JOB_ITEMS
            same = current is not None and current.kind == item.kind and (
                current.path == item.path or item.kind == "image")
            heavy = current is not None and _compressed_tar(item) and \
                sum(i.size or 0 for i in current.items) + (item.size or 0) > JOB_BYTES
            if current is None or not same or len(current.items) >= limit or heavy:
                if current is not None:
                    yield finish(current)
                current = Job(item.kind, item.path, [])
            current.items.append(item)
        if current is not None:
            yield finish(current)
    finally:
        if stream is not None:
            stream[1].close()


def plan(paths: Sequence[Path], every: int, done: Set[str], scene_views: Optional[Any] = None,
         limits: ArchiveLimits = ArchiveLimits()) -> Tuple[List[Item], int]:
    """All items of ``paths`` -> (items still to do, in source order; how many were already done)."""
    todo, skipped = [], 0
    for path in paths:
        for item in items_of(path, every, scene_views, limits):
            if item.key in done:
                skipped += 1
            else:
                todo.append(item)
    return todo, skipped


# -- reading, in the worker -----------------------------------------------------------------------
def read_job(job: Job, max_pixels: Optional[int] = None) -> Iterator[Tuple[Item, Any]]:
    """(item, BGR image or the exception that stopped reading it) for every item of ``job``, in order."""
    from ..image import read_image

    for item in job.items:
        if item.error is not None:
            where = item.shown_path + (f":{item.shown_member}" if item.member is not None else "")
            yield item, (ArchiveLimitError if item.limit else ImageReadError)(f"{where}: {item.error}")
    rest = Job(job.kind, job.path, [i for i in job.items if i.error is None], job.data)
    if not rest.items:
        return
    if job.kind == "image":
        for item in rest.items:
            try:
                yield item, read_image(item.path, max_pixels)
            except Exception as exc:  # noqa: BLE001 - every failure becomes that item's error row
                yield item, exc
    elif job.kind == "video":
        yield from _read_video(rest)
    elif job.kind == "zip":
        yield from _read_zip(rest, max_pixels)
    elif job.kind == "tar":
        yield from _read_tar(rest, max_pixels)
    else:
        raise InvalidInputError(f"unknown job kind {job.kind!r}")


def _unreadable(job: Job, why: str) -> Iterator[Tuple[Item, Any]]:
    for item in job.items:
        yield item, ImageReadError(f"{printable(job.path)}: {why}")


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
            while ok and position < item.frame:  # type: ignore[operator]
                ok = cap.grab()
                position += 1
            ok, frame = cap.read() if ok else (False, None)
            position += 1
            if not ok or frame is None:
                yield item, ImageReadError(f"{printable(job.path)}: frame {item.frame} cannot be read (the video ends "
                                           "early or is damaged there)")
                position = item.frame + 1  # type: ignore[operator]
                cap.set(cv2.CAP_PROP_POS_FRAMES, position)
            else:
                yield item, frame
    finally:
        cap.release()


def _member_bytes(data: bytes, item: Item, where: str) -> bytes:
    """The member's bytes, checked against the size its archive declared (read at most one byte more)."""
    if item.size is not None and len(data) != item.size:
        raise ImageReadError(f"{where}: {len(data)} bytes where the archive declares {item.size} (damaged or "
                             "truncated archive)")
    return data


def _read_zip(job: Job, max_pixels: Optional[int]) -> Iterator[Tuple[Item, Any]]:
    if job.items[0].member is None:
        yield from _unreadable(job, "not a readable zip archive")
        return
    try:
        z = zipfile.ZipFile(job.path)
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        yield from _unreadable(job, f"cannot open the zip archive ({exc})")
        return
    with z:
        infos = z.infolist()
        for item in job.items:
            where = f"{item.shown_path}:{item.shown_member}"
            try:
                info = infos[item.index] if item.index is not None and item.index < len(infos) else None
                if info is None or info.filename != item.member:
                    raise ImageReadError(f"{where}: the archive changed since it was listed")
                try:
                    with z.open(info) as f:
                        data = _member_bytes(f.read(info.file_size + 1), item, where)
                except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
                    raise ImageReadError(f"{where}: damaged, encrypted or unsupported archive member ({exc})") from None
                yield item, decode_image(data, where, max_pixels)
            except Exception as exc:  # noqa: BLE001 - a bad member is that member's error row
                yield item, exc


def _read_tar(job: Job, max_pixels: Optional[int]) -> Iterator[Tuple[Item, Any]]:
    if job.items[0].member is None:
        yield from _unreadable(job, "not a readable tar archive")
        return
    if job.items[0].offset is None:  # compressed: bytes streamed by the driver
        for item in job.items:
            where = f"{item.shown_path}:{item.shown_member}"
            data = job.data.get(item.key)
            if data is None:
                yield item, ImageReadError(f"{where}: missing (the archive is truncated or damaged)")
                continue
            try:
                yield item, decode_image(_member_bytes(data, item, where), where, max_pixels)
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
            where = f"{item.shown_path}:{item.shown_member}"
            try:
                f.seek(item.offset)  # type: ignore[arg-type]
                data = _member_bytes(f.read(item.size), item, where)
                yield item, decode_image(data, where, max_pixels)
            except Exception as exc:  # noqa: BLE001
                yield item, exc


__all__ = ["ArchiveLimits", "Item", "Job", "expand", "items_of", "jobs_of", "plan", "read_job"]
