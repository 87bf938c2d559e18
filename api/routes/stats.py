"""Prometheus metrics, and the history of recent prediction invocations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from volstream.api.deps import ApiDep
from volstream.api.history import ModelStats
from volstream.api.schemas import HistoryPage

__all__ = ["router"]

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
async def prometheus_metrics(api: ApiDep) -> Response:
    """Prometheus text format (docs/metrics.md)."""
    return Response(generate_latest(api.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/metrics/history")
async def history(
    api: ApiDep,
    model_name: Annotated[
        str | None, Query(alias="model", description="Only this model (version/variant).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HistoryPage:
    """Recent prediction invocations, newest first."""
    total, items = api.history.recent(model_name, limit, offset)
    return HistoryPage(total=total, limit=limit, offset=offset, items=items)


@router.get("/metrics/stats")
async def stats(api: ApiDep) -> list[ModelStats]:
    """Per model since start-up: counts, success and failure rates, latency."""
    return api.history.stats()
