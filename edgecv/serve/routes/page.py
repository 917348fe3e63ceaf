"""``GET /``: the web page (upload, webcam, streams); ``/favicon.ico``: nothing."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def page():
    html = resources.files("edgecv.serve").joinpath("page.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/favicon.ico")
async def favicon():
    return Response(status_code=204)
