"""The API application: FastAPI for the documented routes, a lean front for the hot ones.

The ASGI stack, outermost first: :class:`~volstream.api.hot.HotRoutes` (answers the
prediction routes and records their request metrics),
:class:`~volstream.api.metrics.RequestMetrics` (request metrics of every other
route), FastAPI (everything else, and the OpenAPI document of everything,
``/predict`` included). Routes live in :mod:`volstream.api.routes`, their
dependencies in :mod:`volstream.api.deps`, their bodies in :mod:`volstream.api.schemas`.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry

import volstream
from volstream.api.errors import add_error_handlers
from volstream.api.history import InvocationLog
from volstream.api.hot import HotRoutes
from volstream.api.latest import LatestPredictions
from volstream.api.metrics import RequestMetrics, build_api_metrics
from volstream.api.parts import Api
from volstream.api.routes import ROUTERS
from volstream.api.schemas import document_msgspec_schemas
from volstream.api.service import ModelHolder, PredictionService
from volstream.model.inference import Placement
from volstream.settings import (
    CPU_ONLY,
    ApiSettings,
    DeviceSettings,
    DriftSettings,
    KafkaSettings,
    ModelSettings,
)

__all__ = ["Api", "create_app"]


def create_app(
    settings: ApiSettings,
    model_settings: ModelSettings,
    kafka: KafkaSettings | None,
    registry: CollectorRegistry | None = None,
    drift_reports: Path | None = None,
    device: DeviceSettings = CPU_ONLY,
) -> Api:
    """Build the API; the model loads now, the predictions tail starts with the server."""
    registry = registry or CollectorRegistry()
    metrics = build_api_metrics(registry)
    model = ModelHolder(model_settings, metrics, Placement(device))
    model.try_load()
    latest = (
        LatestPredictions(kafka, settings.tail_seconds, settings.broker_check_seconds)
        if kafka
        else None
    )
    history = InvocationLog(settings.history_size)
    service = PredictionService(model, latest, history, metrics, settings.max_rows)
    app = FastAPIOffline(  # /docs and /redoc load their scripts from the package, not a CDN
        title="volstream API",
        version=volstream.__version__,
        summary="On-demand volatility-spike predictions, health, metrics and invocation history.",
        lifespan=_lifespan,
    )
    hot = HotRoutes(RequestMetrics(app, metrics), service, settings.max_body_bytes)
    reports = drift_reports or DriftSettings.model_fields["reports_dir"].default
    api = Api(hot, app, settings, model, service, latest, history, metrics, registry, reports)
    app.state.api = api
    add_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    document_msgspec_schemas(app, settings.max_rows)
    return api


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """While the server runs: follow the registry, tail the predictions topic."""
    api: Api = app.state.api
    stop = threading.Event()
    follower = threading.Thread(target=api.model.follow, args=(stop,), name="registry-follower",
                                daemon=True)  # fmt: skip
    follower.start()
    if api.latest:
        api.latest.start()
    yield
    stop.set()
    if api.latest:
        api.latest.stop()
