"""The HTTP service (FastAPI): detect on encoded images or raw camera frames, models, health, metrics, MJPEG
streams and the web page.

Status codes: 400 bad input (the ``EdgecvError`` message, never a 500), 401 missing or wrong API key,
404 unknown model or stream, 413 body over the limit (refused from ``Content-Length`` before reading, or
as soon as a chunked body passes it), 415 unsupported content type, 503 + ``Retry-After`` when
``max_queue`` requests are already in hand. Answers to detect are ``result.to_dict()`` plus ``model``,
``engine``, ``width``, ``height`` and ``latency_ms`` (time in the worker: decode + detect), exactly what
``edgecv.load(...).detect(...)`` gives on the same bytes.
"""


import hmac
import logging
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..errors import (EdgecvError, EngineRuntimeError, FeatureNotInstalledError, ImageTooLargeError,
                      InvalidInputError, SourceError)
from ..tasks.spec import Option
from ..versions import __version__
from .metrics import Metrics
from .mjpeg import BOUNDARY, StreamView
from .models import ServedModel
from .pool import Busy, InferencePool
from .protocol import ConnectionLimits

log = logging.getLogger(__name__)

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/bmp", "image/tiff", "application/octet-stream")
#: Query parameters that are not task options (``rotation`` is: the image tasks' frame option).
RESERVED = {"format", "width", "height", "draw", "key"}


@dataclass
class ServeSettings:
    """Limits of one service: ``api_key`` (None: open), ``max_body_mb``, ``max_queue``, ``workers``, ``max_pixels``
    (largest image decoded; None: ``EDGECV_MAX_PIXELS`` or 40 MP), ``source_timeout`` (seconds a ``--source``
    URL may take to open or between frames) and the connection limits and timeouts (``connections``)."""

    api_key: Optional[str] = None
    max_body_mb: float = 16.0
    max_queue: int = 32
    workers: int = 1
    max_pixels: Optional[int] = None
    source_timeout: float = 10.0
    connections: ConnectionLimits = field(default_factory=ConnectionLimits)


class HttpError(Exception):
    def __init__(self, status: int, error: str, message: str, headers: Optional[Dict[str, str]] = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers or {}


def serve_module(name: str):
    """``fastapi`` or ``uvicorn``, or FeatureNotInstalledError naming the extra."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise FeatureNotInstalledError("edgecv serve needs FastAPI and uvicorn: pip install 'edgecv[serve]'") from exc


def _raw_frame(data: bytes, fmt: str, width: Optional[int], height: Optional[int]) -> np.ndarray:
    """Raw frame bytes -> the array layout ``detect(format=...)`` takes (its checks do the rest)."""
    from ..frames import frame_shape

    if not width or not height or width < 2 or height < 2 or width > 16384 or height > 16384:
        raise InvalidInputError("raw frames need width= and height= (2..16384 pixels)")
    shape = frame_shape(fmt, height, width)
    need = int(np.prod(shape))
    if len(data) != need:
        raise InvalidInputError(f"a {width}x{height} {fmt} frame is {need} bytes, the body has {len(data)}")
    return np.frombuffer(data, np.uint8).reshape(shape)


#: ``?draw=`` and other switches: the words a bool Option reads (anything else is a 400, never a silent false).
_SWITCH = Option("draw", "bool", False, "answer the annotated JPEG")


def _task_options(served: ServedModel, query: Dict[str, str]) -> Dict[str, Any]:
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


def _whole(query: Dict[str, str], name: str) -> Optional[int]:
    if name not in query:
        return None
    try:
        return int(query[name])
    except ValueError:
        raise InvalidInputError(f"{name} must be a whole number, got {query[name]!r:.40}") from None


def _finite_json(doc: Dict[str, Any]) -> bytes:
    """The answer as JSON; a non-finite number in it is the engine's failure on this input, not a 500."""
    import json

    try:
        return json.dumps(doc, allow_nan=False, separators=(",", ":")).encode()
    except ValueError:
        raise EngineRuntimeError("the model gave non-finite numbers (NaN or infinity) on this input") from None


def create_app(models: Sequence[ServedModel], settings: ServeSettings = ServeSettings(),
               sources: Sequence[StreamView] = ()):
    """The FastAPI application serving ``models`` (and MJPEG ``sources``)."""
    fastapi = serve_module("fastapi")
    from fastapi import Request
    from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
    from starlette.requests import ClientDisconnect

    by_name = {m.name: m for m in models}
    streams = {s.name: s for s in sources}
    metrics = Metrics()
    metrics.models.set(len(by_name))
    pool = InferencePool(settings.workers, settings.max_queue)
    limit = int(settings.max_body_mb * 1024 * 1024)
    started = time.monotonic()
    stopping = threading.Event()

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        yield
        stopping.set()
        for s in streams.values():
            s.close()
        pool.close()

    app = fastapi.FastAPI(title="edgecv", version=__version__, lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.pool = pool
    app.state.metrics = metrics

    def error_response(exc: HttpError) -> JSONResponse:
        return JSONResponse({"error": exc.error, "message": exc.message}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(HttpError)
    async def _http_error(request, exc: HttpError):
        return error_response(exc)

    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(RequestValidationError)
    async def _validation(request, exc):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"error": "InvalidInputError", "message": f"{where}: {first.get('msg', 'invalid')}"},
                            status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _starlette(request, exc):
        return JSONResponse({"error": "HTTPError", "message": str(exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    def check_key(request) -> None:
        if settings.api_key is None:
            return
        given = request.headers.get("x-api-key") or request.query_params.get("key") or ""
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not hmac.compare_digest(given.encode(), settings.api_key.encode()):
            raise HttpError(401, "Unauthorized", "missing or wrong API key (Authorization: Bearer KEY, X-API-Key: "
                            "KEY or ?key=KEY)", {"WWW-Authenticate": "Bearer"})

    def served(name: str) -> ServedModel:
        if name not in by_name:
            raise HttpError(404, "ModelNotFound", f"no model {name!r:.70} here; models: {', '.join(by_name)}")
        return by_name[name]

    async def read_body(request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                raise HttpError(400, "InvalidInputError", "Content-Length is not a number") from None
            if declared > limit:
                raise HttpError(413, "PayloadTooLarge", f"the body is {declared} bytes; the limit is {limit} "
                                f"(--max-body-mb {settings.max_body_mb:g})")
        chunks: List[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HttpError(413, "PayloadTooLarge", f"the body passed the limit of {limit} bytes "
                                f"(--max-body-mb {settings.max_body_mb:g})")
            chunks.append(chunk)
        return b"".join(chunks)

    def content_type(request) -> str:
        return request.headers.get("content-type", "").split(";")[0].strip().lower()

    async def parse_form(request, body: bytes, files: int):
        """The multipart form in ``body`` (read under the limit: Starlette parses ``_body`` when it is set)."""
        request._body = body
        try:
            return await request.form(max_files=files, max_fields=files + 8, max_part_size=limit)
        except Exception as exc:  # noqa: BLE001 - a malformed form is bad input
            raise HttpError(400, "InvalidInputError", f"cannot parse the multipart form: {exc}") from None

    async def image_bytes(request, body: bytes) -> bytes:
        ctype = content_type(request)
        if ctype == "multipart/form-data":
            form = await parse_form(request, body, 4)
            part = form.get("image")
            if part is None or isinstance(part, str):
                raise HttpError(400, "InvalidInputError", "the multipart form has no file field 'image'")
            return await part.read()
        if ctype and ctype not in IMAGE_TYPES and not ctype.startswith("image/"):
            raise HttpError(415, "UnsupportedMediaType", f"Content-Type {ctype!r:.60}: send an encoded image "
                            "(image/jpeg, image/png, image/webp), a multipart form with an 'image' field, or a raw "
                            "frame with ?format=nv21&width=&height=")
        return body

    async def views_from_form(request, body: bytes, entry: ServedModel) -> list:
        """Multi-view stereo: a multipart form with ``view`` images and ``cam`` files (MVSNet text), one of
        each per view, reference first."""
        n = entry.model.num_views
        if content_type(request) != "multipart/form-data":
            raise InvalidInputError(f"{entry.name} is a multi-view stereo model: send a multipart form with "
                                    f"{n} 'view' images and as many 'cam' files, reference first")
        form = await parse_form(request, body, 2 * n + 2)
        images = [await f.read() for f in form.getlist("view") if not isinstance(f, str)]
        cams = [await f.read() if not isinstance(f, str) else f.encode() for f in form.getlist("cam")]
        if len(images) != n or len(cams) != n:
            raise InvalidInputError(f"{entry.name} takes {n} views: got {len(images)} 'view' images and "
                                    f"{len(cams)} 'cam' files")
        return list(zip(images, cams))

    @app.post("/v1/models/{name}/detect")
    async def detect(name: str, request: Request):
        start = time.perf_counter()
        check_key(request)
        entry = served(name)
        label, status, error = entry.name, 200, ""
        try:
            query = dict(request.query_params)
            draw = _SWITCH.from_text(query["draw"], "?draw=") if "draw" in query else False
            fmt = query.get("format")
            width, height = _whole(query, "width"), _whole(query, "height")
            options = _task_options(entry, query)
            body = await read_body(request)
            views = None
            if entry.model.task == "mvs":
                views = await views_from_form(request, body, entry)
            elif not fmt:
                body = await image_bytes(request, body)
            if not body:
                raise InvalidInputError("the request has no image (empty body)")

            def work():
                t0 = time.perf_counter()
                from ..image import decode_image

                if views is not None:
                    from ..tasks.mvs import View, parse_cam

                    chosen = [View(decode_image(img, f"view {i}", settings.max_pixels), parse_cam(cam, f"cam {i}"), i)
                              for i, (img, cam) in enumerate(views)]
                    result = entry.model.detect(chosen, **options)
                    frame = None
                else:
                    if fmt:
                        frame = _raw_frame(body, fmt.lower(), width, height)
                        options["format"] = fmt.lower()
                    else:
                        frame = decode_image(body, "the request body", settings.max_pixels)
                    result = entry.model.detect(frame, **options)
                seconds = time.perf_counter() - t0
                if draw:
                    import cv2

                    drawn = result.draw() if frame is None else result.draw(frame)
                    ok, buf = cv2.imencode(".jpg", drawn, [cv2.IMWRITE_JPEG_QUALITY, 90])
                    return buf.tobytes(), result, seconds
                if frame is None:
                    h, w = result.depth.shape
                else:
                    h, w = frame.shape[:2] if not fmt else (height, width)
                doc = {**result.to_dict(), "model": entry.name, "engine": entry.model.engine.name,
                       "width": int(w), "height": int(h), "latency_ms": round(seconds * 1000, 3)}
                return _finite_json(doc), result, seconds

            try:
                payload, result, seconds = await pool.run(work)
            except Busy as exc:
                raise HttpError(503, "Busy", str(exc), {"Retry-After": str(exc.retry_after)}) from None
            if draw:
                return Response(payload, media_type="image/jpeg",
                                headers={"X-Edgecv-Count": str(result.to_dict()["count"]),
                                         "X-Edgecv-Latency-Ms": f"{seconds * 1e3:.3f}"})
            return Response(payload, media_type="application/json")
        except HttpError as exc:
            status, error = exc.status, exc.error
            raise
        except ClientDisconnect:
            status, error = 499, "ClientDisconnect"
            log.info("client %s hung up before its request to %s was read", _peer(request), name)
            return Response(status_code=499)
        except EdgecvError as exc:
            status, error = (413 if isinstance(exc, ImageTooLargeError) else 400), type(exc).__name__
            raise HttpError(status, error, " ".join(str(exc).split())) from None
        except Exception as exc:
            status, error = 500, type(exc).__name__
            log.exception("detect on %s failed", name)
            raise HttpError(500, "InternalError", f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from None
        finally:
            metrics.answered(label, status, time.perf_counter() - start, error)

    @app.get("/v1/models")
    async def list_models(request: Request):
        check_key(request)
        return {"models": [m.describe() for m in by_name.values()],
                "streams": [s.describe() for s in streams.values()]}

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "models": len(by_name), "queue_depth": pool.depth, "max_queue": pool.max_queue,
                "uptime_s": round(time.monotonic() - started, 1)}

    @app.get("/metrics")
    async def prometheus(request: Request):
        check_key(request)
        metrics.queue.set(pool.depth)
        body, ctype = metrics.render()
        return Response(body, media_type=ctype.split(";")[0], headers={"Content-Type": ctype})

    @app.get("/v1/streams/{name}.mjpg")
    async def mjpeg(name: str, request: Request):
        check_key(request)
        if name not in streams:
            raise HttpError(404, "StreamNotFound", f"no stream {name!r:.70}; streams: {', '.join(streams) or 'none'}")
        from starlette.concurrency import run_in_threadpool

        try:
            viewer = await run_in_threadpool(streams[name].open_viewer)
        except SourceError as exc:
            raise HttpError(503, "SourceError", " ".join(str(exc).split()), {"Retry-After": "10"}) from None

        async def parts():
            try:
                while not stopping.is_set():
                    part = await run_in_threadpool(viewer.next_part, 1.0)
                    if part == viewer.ENDED:
                        break
                    if part is not None:
                        yield part
            finally:
                viewer.close()  # synchronous and idempotent: runs even when a disconnect cancels this generator

        return StreamingResponse(parts(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                                 headers={"Cache-Control": "no-store"})

    @app.get("/", response_class=HTMLResponse)
    async def page():
        return HTMLResponse(_page(), headers={"Cache-Control": "no-store"})

    @app.get("/favicon.ico")
    async def favicon():
        return Response(status_code=204)

    return app


def _peer(request: Any) -> str:
    client = getattr(request, "client", None)
    return f"{client.host}:{client.port}" if client else "?"


def _page() -> str:
    return resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")




