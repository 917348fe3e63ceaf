"""Running the service: bind the socket first (a taken port is a one-line error), then uvicorn."""

from __future__ import annotations

import logging
import socket
from typing import List, Optional, Sequence

from ..errors import InvalidInputError, OutputWriteError
from .app import create_app
from .settings import ServeSettings, serve_module
from .mjpeg import StreamView
from .models import load_models, split_source_arg
from .protocol import guarded_protocol

log = logging.getLogger(__name__)


def check_settings(settings: ServeSettings) -> None:
    """InvalidInputError naming the first setting out of range."""
    from ..image import pixel_limit

    c = settings.connections
    if settings.max_queue < 1 or settings.workers < 1 or not settings.max_body_mb > 0:
        raise InvalidInputError("--max-queue and --workers must be >= 1 and --max-body-mb > 0")
    if not 1 <= c.max_connections <= 65535 or not 1 <= c.max_connections_per_client <= c.max_connections:
        raise InvalidInputError("--max-connections must be in 1..65535 and --max-connections-per-client in "
                                "1..--max-connections")
    for what, value in (("--header-timeout", c.header_timeout), ("--body-timeout", c.body_timeout),
                        ("--keep-alive", c.keep_alive), ("--source-timeout", settings.source_timeout)):
        if not 0 < value <= 3600:
            raise InvalidInputError(f"{what} must be in (0, 3600] seconds, got {value:g}")
    if settings.max_pixels is not None:
        pixel_limit(settings.max_pixels)


def bind(host: str, port: int, backlog: int = 128) -> socket.socket:
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
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise OutputWriteError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def serve(models: Sequence[str], *, host: str = "127.0.0.1", port: int = 8080, engine: Optional[str] = None,
          threads: Optional[int] = None, settings: Optional[ServeSettings] = None, sources: Sequence[str] = (),
          trust: bool = False, ready=None) -> None:
    """Load ``models`` (``MODEL[=NAME]``), then serve until interrupted. ``ready(url)`` is called once
    listening."""
    uvicorn = serve_module("uvicorn")
    settings = settings if settings is not None else ServeSettings()
    check_settings(settings)
    served = load_models(models, engine, threads, trust)
    views: List[StreamView] = []
    for text in sources:
        name, source, model = split_source_arg(text, served)
        if any(v.name == name for v in views):
            raise InvalidInputError(f"two streams are named {name!r}")
        views.append(StreamView(name, source, model, settings.source_timeout))
    app = create_app(served, settings, views)
    limits = settings.connections
    sock = bind(host, port, backlog=min(4096, limits.max_connections))
    url_host = f"[{host}]" if ":" in host else host
    url = f"http://{url_host}:{sock.getsockname()[1]}"
    # No limit_concurrency: uvicorn would answer everything 503 once that many sockets are open, idle ones
    # included. The guarded protocol refuses connections over the limits at the socket and times out slow ones.
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5,
                            http=guarded_protocol(limits), timeout_keep_alive=max(1, int(round(limits.keep_alive))),
                            backlog=min(4096, limits.max_connections))
    server = uvicorn.Server(config)
    if ready is not None:
        ready(url)
    log.info("serving %s on %s", ", ".join(m.name for m in served), url)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
