"""``/predict`` and ``/predict/{symbol}``, as documented in OpenAPI.

:class:`~volstream.api.hot.HotRoutes` answers them before FastAPI sees the request;
these handlers run the same code, and are what ``/docs`` describes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from volstream.api.deps import ApiDep, ServiceDep
from volstream.api.errors import respond
from volstream.api.schemas import ERROR_SCHEMA, json_content

__all__ = ["router"]

router = APIRouter(tags=["predictions"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, **json_content(ERROR_SCHEMA)}
    for status, text in [
        (413, "Body over VOLSTREAM_API_MAX_BODY_BYTES."),
        (422, "Not JSON, wrong types, missing or unknown features, NaN/Inf, too many rows."),
        (503, "No model is loaded."),
    ]
}


def _ok(schema: str) -> dict[str, Any]:
    return {"description": "Predictions.", **json_content(f"#/components/schemas/{schema}")}


@router.post(
    "/predict",
    openapi_extra={
        "requestBody": {"required": True, **json_content("#/components/schemas/PredictRequest")}
    },
    responses={200: _ok("PredictResponse"), **_ERRORS},
)
async def predict(request: Request, api: ApiDep) -> Response:
    """Score feature rows: probability and spike flag per row, with the model that scored it."""
    return respond(await api.asgi.predict(request.scope, request.receive), request)


@router.get(
    "/predict/{symbol}",
    responses={
        200: _ok("SymbolPrediction"),
        404: {"description": "No recent prediction for that symbol.", **json_content(ERROR_SCHEMA)},
        503: _ERRORS[503],
    },
)
async def predict_symbol(symbol: str, request: Request, service: ServiceDep) -> Response:
    """Score the symbol's latest features, as tailed from the predictions topic."""
    return respond(service.predict_symbol(symbol), request)
