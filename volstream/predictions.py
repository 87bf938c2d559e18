"""The prediction contract: what the consumer publishes to the ``predictions`` topic.

A prediction carries everything a downstream reader needs (the drift job reads
nothing else): the model that made it, the feature vector it scored, the event
time of the tick, when it was computed, and where the tick came from.
Its JSON Schema is ``volstream/schemas/prediction.schema.json``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from volstream.features import FEATURE_NAMES

__all__ = [
    "FeatureVector",
    "Prediction",
    "PredictionHead",
    "decode_heads",
    "decode_prediction",
    "encode_predictions",
]

#: The feature values of one prediction, one field per feature, in engine order.
FeatureVector = msgspec.defstruct(
    "FeatureVector", [(name, float) for name in FEATURE_NAMES], gc=False
)


Variant = Literal["model", "baseline"]


class Prediction(msgspec.Struct, frozen=True, gc=False):
    """The model's answer for one tick."""

    symbol: Annotated[str, msgspec.Meta(min_length=1, description="Instrument id; the key.")]
    event_time_ms: Annotated[
        int, msgspec.Meta(ge=0, description="Event time of the tick, epoch ms UTC.")
    ]
    processed_time_ms: Annotated[
        int, msgspec.Meta(ge=0, description="When the prediction was computed, epoch ms UTC.")
    ]
    probability: Annotated[
        float, msgspec.Meta(ge=0, le=1, description="Probability of a volatility spike.")
    ]
    spike: Annotated[bool, msgspec.Meta(description="probability >= threshold.")]
    threshold: Annotated[float, msgspec.Meta(ge=0, le=1, description="The model's threshold.")]
    model_version: Annotated[str, msgspec.Meta(description="Registry version that scored it.")]
    model_variant: Annotated[Variant, msgspec.Meta(description="LightGBM model or baseline rule.")]
    features: Annotated[
        FeatureVector,  # type: ignore[valid-type]
        msgspec.Meta(description="Feature name to value, as scored (see docs/features.md)."),
    ]
    source_partition: Annotated[int, msgspec.Meta(ge=0, description="Partition of the tick.")]
    source_offset: Annotated[int, msgspec.Meta(ge=0, description="Offset of the tick.")]


class PredictionHead(msgspec.Struct, frozen=True, gc=False):
    """What an outcome needs of a prediction (the models in shadow score its features)."""

    symbol: str
    event_time_ms: int
    probability: float
    threshold: float
    model_version: str
    model_variant: Variant
    features: FeatureVector  # type: ignore[valid-type]
    source_partition: int
    source_offset: int


_decoder = msgspec.json.Decoder(Prediction)
_head_decoder = msgspec.json.Decoder(PredictionHead)
_heads_decoder = msgspec.json.Decoder(list[PredictionHead])
_encoder = msgspec.json.Encoder()


def encode_predictions(predictions: list[Prediction]) -> list[bytes]:
    """The JSON bytes of each prediction, encoded in one call."""
    if not predictions:
        return []
    return _encoder.encode_lines(predictions).split(b"\n")[:-1]


def decode_prediction(payload: bytes) -> Prediction:
    """Parse and validate one prediction (raises ``msgspec.ValidationError``)."""
    return _decoder.decode(payload)


def decode_heads(payloads: list[bytes]) -> list[PredictionHead | None]:
    """What an outcome needs of each prediction; None for a payload that is not one.

    The payloads are decoded as one JSON array (one call instead of one per record),
    and one by one only when that fails.
    """
    try:
        return list(_heads_decoder.decode(b"[" + b",".join(payloads) + b"]"))
    except msgspec.DecodeError:
        return [_head_or_none(payload) for payload in payloads]


def _head_or_none(payload: bytes) -> PredictionHead | None:
    try:
        return _head_decoder.decode(payload)
    except msgspec.DecodeError:
        return None
