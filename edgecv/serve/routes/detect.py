"""``POST /v1/models/{name}/detect``: an encoded image, a multipart ``image`` field, a raw camera frame
(``?format=nv21&width=&height=``) or, for multi-view stereo models, a multipart form of views and cams."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.requests import ClientDisconnect

from ...errors import EdgecvError, ImageTooLargeError, InvalidInputError
from ...tasks import VIEWS, get_task
from ..deps import peer, read_body, require_key, served_model, service
from ..inputs import SWITCH, finite_json, image_bytes, raw_frame, task_options, views_from_form, whole_number
from ..models import ServedModel
from ..pool import Busy
from ..settings import HttpError

log = logging.getLogger("edgecv.serve.app")
router = APIRouter(dependencies=[Depends(require_key)])


@router.post("/v1/models/{name}/detect")
async def detect(name: str, request: Request, entry: ServedModel = Depends(served_model)):
    start = time.perf_counter()
    svc = service(request)
    settings, limit = svc.settings, svc.settings.max_body_bytes
    status, error = 200, ""
    try:
        query = dict(request.query_params)
        draw = SWITCH.from_text(query["draw"], "?draw=") if "draw" in query else False
        fmt = query.get("format")
        width, height = whole_number(query, "width"), whole_number(query, "height")
        options = task_options(entry, query)
        body = await read_body(request)
        views = None
        if get_task(entry.model.task).inputs == VIEWS:
            views = await views_from_form(request, body, entry, limit)
        elif not fmt:
            body = await image_bytes(request, body, limit)
        if not body:
            raise InvalidInputError("the request has no image (empty body)")

        def work():
            t0 = time.perf_counter()
            from ...image import decode_image

            if views is not None:
                from ...tasks.mvs import View, parse_cam

                chosen = [View(decode_image(img, f"view {i}", settings.max_pixels), parse_cam(cam, f"cam {i}"), i)
                          for i, (img, cam) in enumerate(views)]
                result = entry.model.detect(chosen, **options)
                frame = None
            else:
                if fmt:
                    frame = raw_frame(body, fmt.lower(), width, height)
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
            return finite_json(doc), result, seconds

        try:
            payload, result, seconds = await svc.pool.run(work)
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
        log.info("client %s hung up before its request to %s was read", peer(request), name)
        return Response(status_code=499)
    except EdgecvError as exc:
        status, error = (413 if isinstance(exc, ImageTooLargeError) else 400), type(exc).__name__
        raise HttpError(status, error, " ".join(str(exc).split())) from None
    except Exception as exc:
        status, error = 500, type(exc).__name__
        log.exception("detect on %s failed", name)
        raise HttpError(500, "InternalError", f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from None
    finally:
        svc.metrics.answered(entry.name, status, time.perf_counter() - start, error)
