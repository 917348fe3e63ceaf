"""``edgecv serve``: an HTTP inference service (FastAPI + uvicorn, ``pip install 'edgecv[serve]'``).

    >>> from edgecv.serve import serve
    >>> serve(["scrfd_2.5g_bnkps_640=faces"], host="0.0.0.0", port=8080)

Modules: ``settings`` (limits), ``models`` (what is served), ``pool`` (bounded inference pool), ``metrics``
(Prometheus), ``mjpeg`` (live annotated streams), ``inputs`` (request parsing), ``deps`` (API key, model lookup,
body limit), ``routes/`` (the endpoints, one router per concern), ``app`` (assembles them), ``protocol`` (connection
limits below HTTP), ``server`` (socket + uvicorn), ``page.html`` (the web page).
"""

from __future__ import annotations

from .app import create_app
from .settings import ServeSettings
from .models import ServedModel, load_models
from .server import serve

__all__ = ["serve", "create_app", "ServeSettings", "ServedModel", "load_models"]
