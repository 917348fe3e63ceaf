"""Prometheus metrics of one service (its own registry: two apps in one process do not mix counts)."""

from __future__ import annotations

from typing import Any

from ..errors import FeatureNotInstalledError

#: Latency buckets in seconds: small boards answer in 10 ms to a few seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """``edgecv_requests_total{model,status}``, ``edgecv_request_latency_seconds{model}`` (histogram, detect
    requests answered 200), ``edgecv_queue_depth`` (requests admitted and not finished), ``edgecv_errors_total
    {model,error}`` (error type of every non-200 detect answer), ``edgecv_models`` (models served)."""

    def __init__(self) -> None:
        try:
            import prometheus_client as prom
        except ImportError as exc:
            raise FeatureNotInstalledError("edgecv serve needs prometheus-client: pip install 'edgecv[serve]'") from exc
        self._prom = prom
        self.registry = prom.CollectorRegistry()
        self.requests = prom.Counter("edgecv_requests", "Detect requests by model and HTTP status",
                                     ["model", "status"], registry=self.registry)
        self.latency = prom.Histogram("edgecv_request_latency_seconds", "Detect latency (200 answers), seconds",
                                      ["model"], buckets=BUCKETS, registry=self.registry)
        self.queue = prom.Gauge("edgecv_queue_depth", "Detect requests admitted and not yet finished",
                                registry=self.registry)
        self.errors = prom.Counter("edgecv_errors", "Detect requests not answered 200, by error type",
                                   ["model", "error"], registry=self.registry)
        self.models = prom.Gauge("edgecv_models", "Models served", registry=self.registry)

    def answered(self, model: str, status: int, seconds: float, error: str = "") -> None:
        self.requests.labels(model=model, status=str(status)).inc()
        if status == 200:
            self.latency.labels(model=model).observe(seconds)
        else:
            self.errors.labels(model=model, error=error or str(status)).inc()

    def render(self) -> Any:
        """(body bytes, content type) of the Prometheus text format."""
        return self._prom.generate_latest(self.registry), self._prom.CONTENT_TYPE_LATEST
