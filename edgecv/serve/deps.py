"""What every endpoint shares, as FastAPI dependencies: the service's state, the API key check, the model named in
the path, and the request body read under its size limit."""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List

try:  # FastAPI resolves the annotations below by name; without edgecv[serve], create_app says what to install
    from starlette.requests import Request
except ImportError:  # pragma: no cover
    Request = Any  # type: ignore[misc,assignment]

from .metrics import Metrics
from .mjpeg import StreamView
from .models import ServedModel
from .pool import InferencePool
from .settings import HttpError, ServeSettings


@dataclass
class Service:
    """One running service: its models and streams by name, settings, metrics and inference pool."""

    models: Dict[str, ServedModel]
    streams: Dict[str, StreamView]
    settings: ServeSettings
    metrics: Metrics
    pool: InferencePool
    started: float = field(default_factory=time.monotonic)
    stopping: threading.Event = field(default_factory=threading.Event)


def service(request: Request) -> Service:
    """The Service of the application the request reached."""
    return request.app.state.service


async def require_key(request: Request) -> None:
    """401 unless the request carries the API key (when one is set): ``Authorization: Bearer KEY``, ``X-API-Key`` or
    ``?key=``, compared in constant time."""
    key = service(request).settings.api_key
    if key is None:
        return
    given = request.headers.get("x-api-key") or request.query_params.get("key") or ""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if not hmac.compare_digest(given.encode(), key.encode()):
        raise HttpError(401, "Unauthorized", "missing or wrong API key (Authorization: Bearer KEY, X-API-Key: "
                        "KEY or ?key=KEY)", {"WWW-Authenticate": "Bearer"})


async def served_model(name: str, request: Request) -> ServedModel:
    """The model named in the path; 404 naming the models served."""
    models = service(request).models
    if name not in models:
        raise HttpError(404, "ModelNotFound", f"no model {name!r:.70} here; models: {', '.join(models)}")
    return models[name]


async def read_body(request: Request) -> bytes:
    """The body, refused with 413 from its Content-Length before reading, or as soon as a chunked body passes the
    limit."""
    settings = service(request).settings
    limit = settings.max_body_bytes
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


def peer(request: Any) -> str:
    client = getattr(request, "client", None)
    return f"{client.host}:{client.port}" if client else "?"


__all__ = ["Service", "service", "require_key", "served_model", "read_body", "peer"]
