"""``GET /v1/streams/{name}.mjpg``: a live annotated ``--source`` as MJPEG. A viewer is counted from its first frame
(503 while the source cannot give one) until it hangs up."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ...errors import SourceError
from ..deps import require_key, service
from ..mjpeg import BOUNDARY
from ..settings import HttpError

router = APIRouter(dependencies=[Depends(require_key)])


@router.get("/v1/streams/{name}.mjpg")
async def mjpeg(name: str, request: Request):
    svc = service(request)
    if name not in svc.streams:
        raise HttpError(404, "StreamNotFound", f"no stream {name!r:.70}; streams: {', '.join(svc.streams) or 'none'}")
    try:
        viewer = await run_in_threadpool(svc.streams[name].open_viewer)
    except SourceError as exc:
        raise HttpError(503, "SourceError", " ".join(str(exc).split()), {"Retry-After": "10"}) from None

    async def parts():
        try:
            while not svc.stopping.is_set():
                part = await run_in_threadpool(viewer.next_part, 1.0)
                if part == viewer.ENDED:
                    break
                if part is not None:
                    yield part
        finally:
            viewer.close()  # synchronous and idempotent: runs even when a disconnect cancels this generator

    return StreamingResponse(parts(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                             headers={"Cache-Control": "no-store"})
