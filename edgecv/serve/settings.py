"""What one service is configured with, and the error every endpoint answers with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional

from ..errors import FeatureNotInstalledError
from .protocol import ConnectionLimits


@dataclass
class ServeSettings:
    """Limits of one service: ``api_key`` (None: open), ``max_body_mb``, ``max_queue``, ``workers``, ``max_pixels``
    (largest image decoded; None: ``EDGECV_MAX_PIXELS`` or 40 MP), ``source_timeout`` (seconds a ``--source``
    URL may take to open or between frames) and the connection limits and timeouts (``connections``)."""

    api_key: Optional[str] = None
    max_body_mb: float = 16.0
    max_queue: int = 32
    workers: int = 1
    max_pixels: Optional[int] = None
    source_timeout: float = 10.0
    connections: ConnectionLimits = field(default_factory=ConnectionLimits)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)


class HttpError(Exception):
    """An answer other than 200: ``status``, a short ``error`` name, a one-line ``message`` and extra headers."""

    def __init__(self, status: int, error: str, message: str, headers: Optional[Dict[str, str]] = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers or {}


def serve_module(name: str):
    """``fastapi`` or ``uvicorn``, or FeatureNotInstalledError naming the extra."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise FeatureNotInstalledError("edgecv serve needs FastAPI and uvicorn: pip install 'edgecv[serve]'") from exc


__all__ = ["ServeSettings", "HttpError", "serve_module"]
