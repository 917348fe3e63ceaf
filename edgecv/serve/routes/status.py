"""``GET /v1/models`` (what is served), ``/healthz`` (open, for load balancers) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ..deps import require_key, service

router = APIRouter()


@router.get("/v1/models", dependencies=[Depends(require_key)])
async def list_models(request: Request):
    svc = service(request)
    return {"models": [m.describe() for m in svc.models.values()],
            "streams": [s.describe() for s in svc.streams.values()]}


@router.get("/healthz")
async def healthz(request: Request):
    svc = service(request)
    return {"status": "ok", "models": len(svc.models), "queue_depth": svc.pool.depth, "max_queue": svc.pool.max_queue,
            "uptime_s": round(time.monotonic() - svc.started, 1)}


@router.get("/metrics", dependencies=[Depends(require_key)])
async def prometheus(request: Request):
    svc = service(request)
    svc.metrics.queue.set(svc.pool.depth)
    body, ctype = svc.metrics.render()
    return Response(body, media_type=ctype.split(";")[0], headers={"Content-Type": ctype})
