"""The API's Prometheus metrics, built on a registry passed in (see docs/metrics.md).

Request metrics are recorded by :class:`RequestMetrics`, an ASGI middleware
around the whole application, so the hot routes and FastAPI's are measured alike.
Routes are labelled by template (``/predict/{symbol}``), never by raw path.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge

from volstream.gpu_metrics import register_gpu_metrics
from volstream.metrics import (
    PROBABILITY_BUCKETS,
    BatchHistogram,
    ServedModelMetrics,
    inference_histogram,
)
from volstream.model.inference import ModelInfo

__all__ = ["ApiMetrics", "RequestMetrics", "build_api_metrics", "ERROR_KEY"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Scope key a handler sets to the kind of error it answered.
ERROR_KEY: Final = "volstream.error"
UNMATCHED: Final = "unmatched"  # one label for every path no route matched
REQUEST_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip


@dataclass
class ApiMetrics:
    requests: Counter
    request_seconds: BatchHistogram
    in_flight: Gauge
    errors: Counter
    predictions: Counter
    probability: BatchHistogram
    model: ServedModelMetrics
    inference_seconds: BatchHistogram
    requests_in_flight: int = 0  # what the in_flight gauge reads at a scrape
    _counters: dict[ModelInfo, Any] = field(default_factory=dict)

    def count_predictions(self, info: ModelInfo, probabilities: Iterable[float]) -> None:
        """Count the rows scored by the model ``info`` describes, and their probabilities."""
        counter = self._counters.get(info)
        if counter is None:
            counter = self._counters[info] = self.predictions.labels(info.version, info.variant)
        n = 0
        for p in probabilities:
            self.probability.observe(p, info.version)
            n += 1
        counter.inc(n)


def build_api_metrics(registry: CollectorRegistry) -> ApiMetrics:
    """Create the API metrics on ``registry``."""
    metrics = ApiMetrics(
        requests=Counter("volstream_api_requests", "HTTP requests answered.",
                         ["method", "route", "status"], registry=registry),
        request_seconds=BatchHistogram("volstream_api_request_duration_seconds",
                                       "Time from request to the end of the response.",
                                       REQUEST_BUCKETS, registry, ["route"]),
        in_flight=Gauge("volstream_api_requests_in_flight", "Requests being answered now.",
                        registry=registry),
        errors=Counter("volstream_api_errors", "Requests answered with an error, by kind.",
                       ["route", "kind"], registry=registry),
        predictions=Counter("volstream_api_predictions", "Rows scored.",
                            ["model_version", "variant"], registry=registry),
        probability=BatchHistogram("volstream_api_prediction_probability",
                                   "Predicted spike probabilities.", PROBABILITY_BUCKETS,
                                   registry, ["model_version"]),
        model=ServedModelMetrics.build(registry),
        inference_seconds=inference_histogram(registry, "api"),
    )  # fmt: skip
    register_gpu_metrics(registry)
    metrics.in_flight.set_function(lambda: metrics.requests_in_flight)
    return metrics


class RequestMetrics:
    """ASGI middleware that counts, times and classifies every HTTP request.

    :class:`~volstream.api.hot.HotRoutes` calls :meth:`record` itself for the routes it
    answers, which spares the hot path this middleware's wrapper of ``send``.
    """

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self._app = app
        self._metrics = metrics
        self._children: dict[tuple[str, str, int], Any] = {}  # labels() costs a lookup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        error: str | None = None

        async def send_and_see(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.in_flight(+1)
        try:
            await self._app(scope, receive, send_and_see)
        except Exception as e:
            error = type(e).__name__
            raise
        finally:
            self.in_flight(-1)
            route = _template(scope)
            error = error or scope.get(ERROR_KEY)
            self.record(scope["method"], route, status, error, time.perf_counter() - started)

    def in_flight(self, change: int) -> None:
        """A request starts (+1) or ends (-1)."""
        self._metrics.requests_in_flight += change

    def record(
        self, method: str, route: str, status: int, error: str | None, seconds: float
    ) -> None:
        """Count one answered request; ``error`` is its kind, if it is an error."""
        key = (method, route, status)
        counter = self._children.get(key)
        if counter is None:
            counter = self._children[key] = self._metrics.requests.labels(method, route, status)
        counter.inc()
        self._metrics.request_seconds.observe(seconds, route)
        kind = error or (f"http_{status}" if status >= 400 else None)
        if kind:
            self._metrics.errors.labels(route, kind).inc()


def _template(scope: Scope) -> str:
    route = scope.get("route")  # set by Starlette's router when a route matched
    return getattr(route, "path", None) or UNMATCHED
