"""The API's request and response bodies, as msgspec structs.

The hot routes decode and encode with these directly; the OpenAPI document at
``/docs`` is generated from the same structs (see :func:`openapi_components`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from volstream.features import FEATURE_NAMES
from volstream.predictions import FeatureVector

__all__ = [
    "ErrorResponse",
    "FeatureRow",
    "PredictRequest",
    "PredictResponse",
    "RowPrediction",
    "SymbolPrediction",
    "openapi_components",
]

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
