"""The prediction contract: what the consumer publishes to the ``predictions`` topic.

A prediction carries everything a downstream reader needs (the drift job reads
nothing else): the model that made it, the feature vector it scored, the event
time of the tick, when it was computed, and where the tick came from.
Its JSON Schema is ``volstream/schemas/prediction.schema.json``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from volstream.documents import encode_each
from volstream.features import FEATURE_NAMES

__all__ = [
    "FeatureVector",
    "Prediction",
    "FullPredictionHead",
    "LabelFeatures",
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


class LabelFeatures(msgspec.Struct, frozen=True, gc=False):
    """The features the label and the baseline rule read; decoding skips the others."""

    log_return: float
    rv_60s: float


class PredictionHead(msgspec.Struct, frozen=True, gc=False):
    """What an outcome needs of a prediction: ``features`` all of them, or LabelFeatures."""

    symbol: str
    event_time_ms: int
    probability: float
    threshold: float
    model_version: str
    model_variant: Variant
    features: LabelFeatures
    source_partition: int
    source_offset: int


class FullPredictionHead(PredictionHead, frozen=True, gc=False):
    """The same, with every feature (for a LightGBM model scored in shadow)."""

    features: FeatureVector  # type: ignore[valid-type]


_decoder = msgspec.json.Decoder(Prediction)
_head_decoders: dict[bool, tuple[msgspec.json.Decoder[Any], msgspec.json.Decoder[Any]]] = {
    False: (msgspec.json.Decoder(PredictionHead), msgspec.json.Decoder(list[PredictionHead])),
    True: (
        msgspec.json.Decoder(FullPredictionHead),
        msgspec.json.Decoder(list[FullPredictionHead]),
    ),
}


def encode_predictions(predictions: list[Prediction]) -> list[bytes]:
    """The JSON bytes of each prediction, encoded in one call."""
    return encode_each(predictions)


def decode_prediction(payload: bytes) -> Prediction:
    """Parse and validate one prediction (raises ``msgspec.ValidationError``)."""
    return _decoder.decode(payload)


def decode_heads(payloads: list[bytes], full: bool = False) -> list[PredictionHead | None]:
    """What an outcome needs of each prediction (every feature if ``full``); None for a
    payload that is not a prediction.

    The payloads are decoded as one JSON array (one call instead of one per record),
    and one by one only when that fails.
    """
    one, many = _head_decoders[full]
    try:
        return list(many.decode(b"[" + b",".join(payloads) + b"]"))
    except msgspec.DecodeError:
        return [_or_none(one, payload) for payload in payloads]


def _or_none(
    decoder: msgspec.json.Decoder[PredictionHead], payload: bytes
) -> PredictionHead | None:
    try:
        return decoder.decode(payload)
    except msgspec.DecodeError:
        return None
