"""The API application: FastAPI for the documented routes, a lean front for the hot ones.

The ASGI stack, outermost first: :class:`~volstream.api.hot.HotRoutes` (answers the
prediction routes and records their request metrics), :class:`~volstream.api.metrics.RequestMetrics`
(request metrics of every other route), FastAPI (everything else, and the
OpenAPI document of everything, ``/predict`` included).
"""

from __future__ import annotations

import platform
import secrets
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

import volstream
from volstream.api.history import Invocation, InvocationLog, ModelStats
from volstream.api.hot import HotRoutes
from volstream.api.latest import LatestPredictions
from volstream.api.metrics import ERROR_KEY, ApiMetrics, ASGIApp, RequestMetrics, build_api_metrics
from volstream.api.schemas import openapi_components
from volstream.api.service import ModelHolder, PredictionService, Reply
from volstream.drift_files import LATEST_HTML, LATEST_JSON
from volstream.errors import VolstreamError
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

ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorResponse"}


@dataclass(frozen=True)
class Api:
    """The parts of one API instance: ``asgi`` is what the server runs."""

    asgi: ASGIApp
    fastapi: FastAPI
    model: ModelHolder
    latest: LatestPredictions | None
    history: InvocationLog
    metrics: ApiMetrics
    registry: CollectorRegistry


class ReloadRequest(BaseModel):
    """Which model to serve next; unset fields keep the serving settings."""

    model_config = ConfigDict(extra="forbid")
    version: str | None = Field(None, min_length=1, description="A registry version.")
    variant: Literal["model", "baseline"] | None = None


class ModelDescription(BaseModel):
    version: str
    variant: str
    backend: str
    threshold: float
    load_seconds: float
    loaded_at: str | None


class Readiness(BaseModel):
    ready: bool
    reasons: list[str]


class VersionInfo(BaseModel):
    api_version: str
    model: ModelDescription | None
    libraries: dict[str, str]


class HistoryPage(BaseModel):
    total: int = Field(description="Invocations that match the filter in the ring.")
    limit: int
    offset: int
    items: list[Invocation]


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

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        follower = threading.Thread(target=model.follow, args=(stop,), name="registry-follower",
                                    daemon=True)  # fmt: skip
        follower.start()
        if latest:
            latest.start()
        yield
        stop.set()
        if latest:
            latest.stop()

    app = FastAPI(
        title="volstream API",
        version=volstream.__version__,
        summary="On-demand volatility-spike predictions, health, metrics and invocation history.",
        lifespan=lifespan,
    )
    hot = HotRoutes(RequestMetrics(app, metrics), service, settings.max_body_bytes)
    parts = Api(hot, app, model, latest, history, metrics, registry)
    _add_error_handlers(app)
    _add_prediction_routes(app, hot, service)
    _add_service_routes(app, parts, settings)
    _add_drift_routes(app, drift_reports or DriftSettings.model_fields["reports_dir"].default)
    _document_msgspec_schemas(app, settings.max_rows)
    return parts


def _json(reply: Reply, request: Request) -> Response:
    if reply.error:
        request.scope[ERROR_KEY] = reply.error
    return Response(reply.body, reply.status, media_type="application/json")


def _error(request: Request, status: int, kind: str, detail: str) -> JSONResponse:
    request.scope[ERROR_KEY] = kind
    return JSONResponse({"error": kind, "detail": detail}, status)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in e.errors()
        )
        return _error(request, 422, "invalid_request", problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        kind = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}.get(
            e.status_code, f"http_{e.status_code}"
        )
        response = _error(request, e.status_code, kind, str(e.detail))
        if e.headers:
            response.headers.update(e.headers)
        return response


def _add_prediction_routes(app: FastAPI, hot: HotRoutes, service: PredictionService) -> None:
    """The routes :class:`HotRoutes` answers first; here they are documented (and answer too)."""
    errors: dict[int | str, dict[str, Any]] = {
        status: {"description": text, "content": {"application/json": {"schema": ERROR_SCHEMA}}}
        for status, text in [
            (413, "Body over VOLSTREAM_API_MAX_BODY_BYTES."),
            (422, "Not JSON, wrong types, missing or unknown features, NaN/Inf, too many rows."),
            (503, "No model is loaded."),
        ]
    }

    @app.post(
        "/predict",
        tags=["predictions"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}
                },
            }
        },
        responses={200: _ok("PredictResponse"), **errors},
    )
    async def predict(request: Request) -> Response:
        """Score feature rows: probability and spike flag per row, with the model that scored it."""
        return _json(await hot.predict(request.scope, request.receive), request)

    @app.get(
        "/predict/{symbol}",
        tags=["predictions"],
        responses={
            200: _ok("SymbolPrediction"),
            404: {"description": "No recent prediction for that symbol.",
                  "content": {"application/json": {"schema": ERROR_SCHEMA}}},
            503: errors[503],
        },
    )  # fmt: skip
    async def predict_symbol(symbol: str, request: Request) -> Response:
        """Score the symbol's latest features, as tailed from the predictions topic."""
        return _json(service.predict_symbol(symbol), request)


def _ok(schema: str) -> dict[str, Any]:
    return {
        "description": "Predictions.",
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _add_service_routes(app: FastAPI, api: Api, settings: ApiSettings) -> None:
    model = api.model

    @app.get("/health", tags=["service"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/ready", tags=["service"], responses={503: {"model": Readiness}})
    async def ready(response: Response) -> Readiness:
        """Readiness: a model is loaded and the broker answers."""
        reasons = []
        if model.predictor is None:
            reasons.append(model.problem or "no model loaded")
        if api.latest is None:
            reasons.append("no broker configured")
        elif api.latest.broker_problem:
            reasons.append(api.latest.broker_problem)
        response.status_code = 503 if reasons else 200
        return Readiness(ready=not reasons, reasons=reasons)

    @app.get("/version", tags=["service"])
    async def version() -> VersionInfo:
        """API version, serving model, library versions."""
        return VersionInfo(
            api_version=volstream.__version__,
            model=_describe(model),
            libraries={
                "python": platform.python_version(),
                **{name: installed_version(name) for name in _LIBRARIES},
            },
        )

    @app.get("/metrics", tags=["metrics"], response_class=Response)
    async def prometheus_metrics() -> Response:
        """Prometheus text format (docs/metrics.md)."""
        return Response(generate_latest(api.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/metrics/history", tags=["metrics"])
    async def history(
        model_name: Annotated[
            str | None, Query(alias="model", description="Only this model (version/variant).")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> HistoryPage:
        """Recent prediction invocations, newest first."""
        total, items = api.history.recent(model_name, limit, offset)
        return HistoryPage(total=total, limit=limit, offset=offset, items=items)

    @app.get("/metrics/stats", tags=["metrics"])
    async def stats() -> list[ModelStats]:
        """Per model since start-up: counts, success and failure rates, latency."""
        return api.history.stats()

    @app.post(
        "/admin/reload",
        tags=["admin"],
        responses={401: {"description": "Missing or wrong X-API-Key."},
                   422: {"description": "The model cannot be loaded; the old one still serves."}},
    )  # fmt: skip
    async def reload(
        wanted: ReloadRequest | None = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> ModelDescription:
        """Serve another model (a newly promoted one, a pinned version, the baseline) now."""
        _authorize(settings, x_api_key)
        wanted = wanted or ReloadRequest(version=None, variant=None)
        try:
            model.load(_reloaded(model.settings, wanted))
        except VolstreamError as e:
            raise HTTPException(422, str(e)) from e
        described = _describe(model)
        assert described is not None  # noqa: S101 - load() succeeded
        return described


def _add_drift_routes(app: FastAPI, reports: Path) -> None:
    missing: dict[int | str, dict[str, Any]] = {
        404: {"description": "No drift pass has written a report yet."}
    }

    @app.get("/drift", tags=["drift"], responses=missing)
    async def drift_summary() -> Response:
        """The last drift pass's JSON summary (see docs/drift.md)."""
        path = _latest(reports / LATEST_JSON)
        return Response(path.read_bytes(), media_type="application/json")

    @app.get("/drift/report", tags=["drift"], response_class=FileResponse, responses=missing)
    async def drift_report() -> FileResponse:
        """The last drift pass's Evidently HTML report."""
        return FileResponse(_latest(reports / LATEST_HTML), media_type="text/html")


def _latest(path: Path) -> Path:
    if not path.is_file():
        raise HTTPException(
            404, f"no drift report in {path.parent} yet: is `volstream drift` running?"
        )
    return path


_LIBRARIES = ("lightgbm", "numpy", "msgspec", "fastapi", "uvicorn", "confluent-kafka")


def _reloaded(settings: ModelSettings, wanted: ReloadRequest) -> ModelSettings:
    """The serving settings with what the reload asks for; no version: the current one."""
    return settings.model_copy(update={"version": wanted.version,
                                       "variant": wanted.variant or settings.variant})  # fmt: skip


def _authorize(settings: ApiSettings, given: str | None) -> None:
    if settings.api_key is None:
        return
    expected = settings.api_key.get_secret_value().encode()
    if given is None or not secrets.compare_digest(given.encode(), expected):
        raise HTTPException(401, "a valid X-API-Key header is required",
                            headers={"WWW-Authenticate": "X-API-Key"})  # fmt: skip


def _describe(model: ModelHolder) -> ModelDescription | None:
    predictor = model.predictor
    if predictor is None:
        return None
    info = predictor.info
    return ModelDescription(
        version=info.version,
        variant=info.variant,
        backend=info.backend,
        threshold=info.threshold,
        load_seconds=info.load_seconds,
        loaded_at=model.loaded_at.isoformat() if model.loaded_at else None,
    )


def _document_msgspec_schemas(app: FastAPI, max_rows: int) -> None:
    """Add the hot routes' msgspec schemas, with this API's row limit, to the OpenAPI document."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schemas = openapi_components()
            schemas["PredictRequest"]["properties"]["rows"]["maxItems"] = max_rows
            components = original().setdefault("components", {})
            components.setdefault("schemas", {}).update(schemas)
        assert app.openapi_schema is not None  # noqa: S101 - original() set it
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
