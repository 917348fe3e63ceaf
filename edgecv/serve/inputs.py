"""Request parsing, independent of the web framework: query parameters into task options (each parsed by the task's
own Option), raw camera frames, encoded images and multi-view forms, and the JSON answer."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..errors import EngineRuntimeError, InvalidInputError
from ..tasks.spec import Option
from .models import ServedModel
from .settings import HttpError

#: Encoded image types accepted as a request body.
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/bmp", "image/tiff", "application/octet-stream")
#: Query parameters that are not task options (``rotation`` is: the image tasks' frame option).
RESERVED = frozenset({"format", "width", "height", "draw", "key"})
#: ``?draw=`` and other switches: the words a bool Option reads (anything else is a 400, never a silent false).
SWITCH = Option("draw", "bool", False, "answer the annotated JPEG")


def raw_frame(data: bytes, fmt: str, width: Optional[int], height: Optional[int]) -> np.ndarray:
    """Raw frame bytes -> the array layout ``detect(format=...)`` takes (its checks do the rest)."""
    from ..frames import frame_shape

    if not width or not height or width < 2 or height < 2 or width > 16384 or height > 16384:
        raise InvalidInputError("raw frames need width= and height= (2..16384 pixels)")
    shape = frame_shape(fmt, height, width)
    need = int(np.prod(shape))
    if len(data) != need:
        raise InvalidInputError(f"a {width}x{height} {fmt} frame is {need} bytes, the body has {len(data)}")
    return np.frombuffer(data, np.uint8).reshape(shape)


def task_options(served: ServedModel, query: Dict[str, str]) -> Dict[str, Any]:
    """Per-call task options from query parameters (``?score_threshold=0.6``, ``?rotation=90``), each parsed by the
    task's own Option (``?head_pose=maybe`` is a 400) and range-checked before the body is read."""
    table = {o.name: o for o in served.model.options if o.per_call and o.name != "format"}
    options = {}
    for key, value in query.items():
        if key in RESERVED:
            continue
        if key not in table:
            known = ", ".join(sorted(table)) or "none"
            raise InvalidInputError(f"unknown query parameter {key!r:.40} for a {served.model.task} model "
                                    f"(options: {known})")
        options[key] = table[key].from_text(value, f"?{key}=")
    if options:
        served.model.call_options(options)
    return options


def whole_number(query: Dict[str, str], name: str) -> Optional[int]:
    """``?name=`` as an int (None when absent); InvalidInputError for anything else."""
    if name not in query:
        return None
    try:
        return int(query[name])
    except ValueError:
        raise InvalidInputError(f"{name} must be a whole number, got {query[name]!r:.40}") from None


def finite_json(doc: Dict[str, Any]) -> bytes:
    """The answer as JSON; a non-finite number in it is the engine's failure on this input, not a 500."""
    try:
        return json.dumps(doc, allow_nan=False, separators=(",", ":")).encode()
    except ValueError:
        raise EngineRuntimeError("the model gave non-finite numbers (NaN or infinity) on this input") from None


def content_type(request: Any) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def parse_form(request: Any, body: bytes, files: int, limit: int):
    """The multipart form in ``body`` (read under the limit: Starlette parses ``_body`` when it is set)."""
    request._body = body
    try:
        return await request.form(max_files=files, max_fields=files + 8, max_part_size=limit)
    except Exception as exc:  # noqa: BLE001 - a malformed form is bad input
        raise HttpError(400, "InvalidInputError", f"cannot parse the multipart form: {exc}") from None


async def image_bytes(request: Any, body: bytes, limit: int) -> bytes:
    """The encoded image of a request: its body, or the ``image`` field of a multipart form."""
    ctype = content_type(request)
    if ctype == "multipart/form-data":
        form = await parse_form(request, body, 4, limit)
        part = form.get("image")
        if part is None or isinstance(part, str):
            raise HttpError(400, "InvalidInputError", "the multipart form has no file field 'image'")
        return await part.read()
    if ctype and ctype not in IMAGE_TYPES and not ctype.startswith("image/"):
        raise HttpError(415, "UnsupportedMediaType", f"Content-Type {ctype!r:.60}: send an encoded image "
                        "(image/jpeg, image/png, image/webp), a multipart form with an 'image' field, or a raw "
                        "frame with ?format=nv21&width=&height=")
    return body


async def views_from_form(request: Any, body: bytes, entry: ServedModel, limit: int) -> List[Tuple[bytes, bytes]]:
    """Multi-view stereo: a multipart form with ``view`` images and ``cam`` files (MVSNet text), one of each per
    view, reference first."""
    n = entry.model.num_views
    if content_type(request) != "multipart/form-data":
        raise InvalidInputError(f"{entry.name} is a multi-view stereo model: send a multipart form with "
                                f"{n} 'view' images and as many 'cam' files, reference first")
    form = await parse_form(request, body, 2 * n + 2, limit)
    images = [await f.read() for f in form.getlist("view") if not isinstance(f, str)]
    cams = [await f.read() if not isinstance(f, str) else f.encode() for f in form.getlist("cam")]
    if len(images) != n or len(cams) != n:
        raise InvalidInputError(f"{entry.name} takes {n} views: got {len(images)} 'view' images and "
                                f"{len(cams)} 'cam' files")
    return list(zip(images, cams))


__all__ = ["raw_frame", "task_options", "whole_number", "finite_json", "content_type", "parse_form", "image_bytes",
           "views_from_form", "IMAGE_TYPES", "RESERVED", "SWITCH"]
