"""The API's request and response bodies.

The prediction routes' bodies are msgspec structs: the hot routes decode and
encode with them directly, and the OpenAPI document at ``/docs`` describes them
(:func:`document_msgspec_schemas`). The other routes' are pydantic models, which
FastAPI documents itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

import msgspec
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from volstream.api.history import Invocation
from volstream.features import FEATURE_NAMES
from volstream.predictions import FeatureVector

if TYPE_CHECKING:
    from volstream.api.service import ModelHolder

__all__ = [
    "ERROR_SCHEMA",
    "ErrorResponse",
    "FeatureRow",
    "HistoryPage",
    "ModelDescription",
    "PredictRequest",
    "PredictResponse",
    "Readiness",
    "ReloadRequest",
    "RowPrediction",
    "SymbolPrediction",
    "VersionInfo",
    "describe_model",
    "document_msgspec_schemas",
    "json_content",
    "openapi_components",
]

ERROR_SCHEMA: Final = "#/components/schemas/ErrorResponse"

#: One row to score: every model feature by name, nothing else.
FeatureRow = msgspec.defstruct(
    "FeatureRow",
    [(name, float) for name in FEATURE_NAMES],
    forbid_unknown_fields=True,
    gc=False,
)


class PredictRequest(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /predict``: feature rows by name (see docs/features.md)."""

    rows: Annotated[
        list[FeatureRow],  # type: ignore[valid-type]
        msgspec.Meta(min_length=1, description="Rows to score; at most VOLSTREAM_API_MAX_ROWS."),
    ]


class RowPrediction(msgspec.Struct, gc=False):
    """The model's answer for one row."""

    probability: Annotated[float, msgspec.Meta(description="Probability of a volatility spike.")]
    spike: Annotated[bool, msgspec.Meta(description="probability >= the model's threshold.")]
    model_version: str
    model_variant: Literal["model", "baseline"]


class PredictResponse(msgspec.Struct):
    """One prediction per request row, in order."""

    predictions: list[RowPrediction]


class SymbolPrediction(msgspec.Struct):
    """``GET /predict/{symbol}``: the serving model on the symbol's latest features."""

    symbol: str
    probability: float
    spike: bool
    model_version: str
    model_variant: Literal["model", "baseline"]
    features_event_time_ms: Annotated[
        int, msgspec.Meta(description="Event time of the tick the features describe, epoch ms.")
    ]
    features_age_seconds: Annotated[
        float, msgspec.Meta(description="How old those features are: now minus their event time.")
    ]
    features: FeatureVector  # type: ignore[valid-type]
    stream_probability: Annotated[
        float, msgspec.Meta(description="What the stream consumer predicted for the same tick.")
    ]
    stream_model_version: str


class ErrorResponse(msgspec.Struct):
    """Every 4xx and 5xx answer."""

    error: Annotated[str, msgspec.Meta(description="Kind, e.g. invalid_body, too_large.")]
    detail: Annotated[str, msgspec.Meta(description="What is wrong, for people.")]


def openapi_components() -> dict[str, Any]:
    """JSON Schemas of the structs above, for ``components/schemas`` of the OpenAPI document."""
    _, components = msgspec.json.schema_components(
        [PredictRequest, PredictResponse, SymbolPrediction, ErrorResponse],
        ref_template="#/components/schemas/{name}",
    )
    return components


def json_content(ref: str) -> dict[str, Any]:
    """An OpenAPI ``content`` entry: JSON of the schema at ``ref``."""
    return {"content": {"application/json": {"schema": {"$ref": ref}}}}


def document_msgspec_schemas(app: FastAPI, max_rows: int) -> None:
    """Add the structs' schemas, with this API's row limit, to the OpenAPI document."""
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


def describe_model(model: ModelHolder) -> ModelDescription | None:
    """The serving model, or None while none is loaded."""
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
