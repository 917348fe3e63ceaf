"""``edgecv serve``: an HTTP inference service with a web page, metrics and MJPEG streams."""

from __future__ import annotations

import argparse
import os
import sys

from .args import finite_float, max_pixels_arg, port_number, positive_int, seconds, thread_count, trust_arg


def register(sub) -> None:
    from ..serve.protocol import ConnectionLimits
    from ..streams.sources import DEFAULT_TIMEOUT
    from ..targets import ENGINE_NAMES

    p = sub.add_parser("serve", help="an HTTP inference service with a web page, metrics and MJPEG streams",
                       description=(
        "Serve models over HTTP (FastAPI + uvicorn; pip install 'edgecv[serve]'): POST /v1/models/NAME/detect "
        "(an encoded image body, a multipart field 'image', or a raw frame with ?format=nv21&width=&height=&"
        "rotation=; ?draw=1 answers the annotated JPEG), GET /v1/models, /healthz, /metrics (Prometheus), "
        "/v1/streams/NAME.mjpg (live annotated --source) and / (a web page: upload, webcam, streams). "
        "Inference runs in a bounded pool: over --max-queue requests in hand the answer is 503 with Retry-After."))
    p.add_argument("models", nargs="+", metavar="MODEL[=NAME]",
                   help="model name or file path, served as NAME (default: the model's name or file stem)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s; 0.0.0.0: "
                   "every interface, set --api-key then)")
    p.add_argument("--port", "-p", type=port_number, default=8080,
                   help="TCP port (default %(default)s; 0: any free port)")
    p.add_argument("--engine", "-e", choices=ENGINE_NAMES + ("auto",), help="inference engine for every model")
    p.add_argument("--threads", "-t", type=thread_count, help="engine threads per model (default: CPU cores, at "
                   "most 4)")
    p.add_argument("--workers", "-w", type=positive_int, default=1,
                   help="requests computed at once (default %(default)s: one at a time, each with all --threads)")
    p.add_argument("--api-key", help="require this key (Authorization: Bearer KEY, X-API-Key or ?key=) on /v1 "
                   "and /metrics (default: EDGECV_API_KEY, else none)")
    p.add_argument("--max-body-mb", type=finite_float, default=16.0, help="largest request body (default %(default)s)")
    p.add_argument("--max-queue", type=positive_int, default=32,
                   help="requests in hand (running + waiting) before 503 (default %(default)s)")
    p.add_argument("--source", action="append", metavar="NAME[@MODEL]=VIDEO_OR_CAMERA",
                   help="a stream shown annotated at /v1/streams/NAME.mjpg: a video file (looped), camera:N or a URL "
                        "(repeatable; default model: the first image model)")
    p.add_argument("--timeout", type=seconds, default=DEFAULT_TIMEOUT,
                   help="--source: seconds a URL may take to open or between two frames (default %(default)s)")
    c = ConnectionLimits()
    p.add_argument("--max-connections", type=positive_int, default=c.max_connections,
                   help="open connections at most; more are refused at the socket (default %(default)s)")
    p.add_argument("--max-connections-per-client", type=positive_int, default=c.max_connections_per_client,
                   help="open connections from one address at most (default %(default)s)")
    p.add_argument("--header-timeout", type=seconds, default=c.header_timeout,
                   help="seconds a connection has to send a complete request head (default %(default)s)")
    p.add_argument("--body-timeout", type=seconds, default=c.body_timeout,
                   help="seconds a request body (chunked too) has to arrive whole; then 408 (default %(default)s)")
    p.add_argument("--keep-alive", type=seconds, default=c.keep_alive,
                   help="seconds an idle connection stays open after a response (default %(default)s)")
    max_pixels_arg(p)
    trust_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..serve import ServeSettings, serve
    from ..serve.protocol import ConnectionLimits

    key = args.api_key if args.api_key is not None else (os.environ.get("EDGECV_API_KEY") or None)
    connections = ConnectionLimits(max_connections=args.max_connections,
                                   max_connections_per_client=args.max_connections_per_client,
                                   header_timeout=args.header_timeout, body_timeout=args.body_timeout,
                                   keep_alive=args.keep_alive)
    settings = ServeSettings(api_key=key, max_body_mb=args.max_body_mb, max_queue=args.max_queue,
                             workers=args.workers, max_pixels=args.max_pixels, source_timeout=args.timeout,
                             connections=connections)

    def ready(url: str) -> None:
        print(f"edgecv: serving {', '.join(args.models)} on {url} (Ctrl-C stops)", file=sys.stderr, flush=True)

    serve(args.models, host=args.host, port=args.port, engine=args.engine, threads=args.threads,
          settings=settings, sources=args.source or (), trust=args.trust, ready=ready)
    return 0
