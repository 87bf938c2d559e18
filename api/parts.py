"""The parts of one API instance, which the routes reach through :mod:`volstream.api.deps`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from volstream.api.history import InvocationLog
from volstream.api.hot import HotRoutes
from volstream.api.latest import LatestPredictions
from volstream.api.metrics import ApiMetrics
from volstream.api.service import ModelHolder, PredictionService
from volstream.settings import ApiSettings

__all__ = ["Api"]


@dataclass(frozen=True)
class Api:
    """One API: ``asgi`` is what the server runs; the rest is what its routes use."""

    asgi: HotRoutes
    fastapi: FastAPI
    settings: ApiSettings
    model: ModelHolder
    service: PredictionService
    latest: LatestPredictions | None
    history: InvocationLog
    metrics: ApiMetrics
    registry: CollectorRegistry
    drift_reports: Path
