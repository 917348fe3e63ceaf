"""Running the service: bind the socket first (a taken port is a one-line error), then uvicorn."""

from __future__ import annotations

import logging
import socket
from typing import Optional, Sequence

from ..errors import InvalidInputError, OutputWriteError
from .app import ServeSettings, create_app, serve_module
from .mjpeg import StreamView
from .models import load_models, split_source_arg

log = logging.getLogger(__name__)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free port); OutputWriteError naming the cause."""
    if not 0 <= port <= 65535:
        raise InvalidInputError(f"--port must be in 0..65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise InvalidInputError(f"--host {host!r:.60}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OutputWriteError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def serve(models: Sequence[str], *, host: str = "127.0.0.1", port: int = 8080, engine: Optional[str] = None,
          threads: Optional[int] = None, settings: ServeSettings = ServeSettings(), sources: Sequence[str] = (),
          trust: bool = False, ready=None) -> None:
    """Load ``models`` (``MODEL[=NAME]``), then serve until interrupted. ``ready(url)`` is called once
    listening."""
    uvicorn = serve_module("uvicorn")
    if settings.max_queue < 1 or settings.workers < 1 or not settings.max_body_mb > 0:
        raise InvalidInputError("--max-queue and --workers must be >= 1 and --max-body-mb > 0")
    served = load_models(models, engine, threads, trust)
    views = []
    for text in sources:
        name, source, model = split_source_arg(text, served)
        if any(v.name == name for v in views):
            raise InvalidInputError(f"two streams are named {name!r}")
        views.append(StreamView(name, source, model))
    app = create_app(served, settings, views)
    sock = bind(host, port)
    url_host = f"[{host}]" if ":" in host else host
    url = f"http://{url_host}:{sock.getsockname()[1]}"
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5,
                            limit_concurrency=max(64, settings.max_queue * 4))
    server = uvicorn.Server(config)
    if ready is not None:
        ready(url)
    log.info("serving %s on %s", ", ".join(m.name for m in served), url)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
