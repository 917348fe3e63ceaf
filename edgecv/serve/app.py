"""The HTTP service (FastAPI): the application, assembled from its routers (``routes/``), dependencies
(``deps``: API key, the model in the path, the body under its limit) and input parsing (``inputs``).

Status codes: 400 bad input (the ``EdgecvError`` message, never a 500), 401 missing or wrong API key,
404 unknown model or stream, 408 a body that does not arrive in time, 413 body over the limit (refused from
``Content-Length`` before reading, or as soon as a chunked body passes it) and images over the pixel limit,
415 unsupported content type, 503 + ``Retry-After`` when ``max_queue`` requests are already in hand or a stream's
source gives no frames. Answers to detect are ``result.to_dict()`` plus ``model``, ``engine``, ``width``,
``height`` and ``latency_ms`` (time in the worker: decode + detect), exactly what ``edgecv.load(...).detect(...)``
gives on the same bytes.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Optional, Sequence

from ..versions import __version__
from .deps import Service
from .metrics import Metrics
from .mjpeg import StreamView
from .models import ServedModel
from .pool import InferencePool
from .settings import HttpError, ServeSettings, serve_module


def create_app(models: Sequence[ServedModel], settings: Optional[ServeSettings] = None,
               sources: Sequence[StreamView] = ()):
    """The FastAPI application serving ``models`` (and MJPEG ``sources``) with ``settings`` (default
    :class:`ServeSettings`)."""
    settings = settings if settings is not None else ServeSettings()
    fastapi = serve_module("fastapi")
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from .routes import detect, page, status, streams

    svc = Service(models={m.name: m for m in models}, streams={s.name: s for s in sources}, settings=settings,
                  metrics=Metrics(), pool=InferencePool(settings.workers, settings.max_queue))
    svc.metrics.models.set(len(svc.models))

    @asynccontextmanager
    async def lifespan(app):
        yield
        svc.stopping.set()
        for s in svc.streams.values():
            s.close()
        svc.pool.close()

    app = fastapi.FastAPI(title="edgecv", version=__version__, lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.service = svc
    app.state.pool, app.state.metrics = svc.pool, svc.metrics

    @app.exception_handler(HttpError)
    async def _http_error(request, exc: HttpError):
        return JSONResponse({"error": exc.error, "message": exc.message}, status_code=exc.status, headers=exc.headers)

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

    for module in (detect, status, streams, page):
        app.include_router(module.router)
    return app


__all__ = ["create_app", "ServeSettings", "HttpError"]
