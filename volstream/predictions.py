"""The prediction contract: what the consumer publishes to the ``predictions`` topic.

A prediction carries everything a downstream reader needs (the drift job reads
nothing else): the model that made it, the feature vector it scored, the event
time of the tick, when it was computed, and where the tick came from. Models
scored in shadow on the same tick (the baseline, a challenger) ride along in
``shadow``: marked, never the answer.
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
    "ShadowScore",
    "decode_head",
    "decode_prediction",
    "encode_predictions",
]

#: The feature values of one prediction, one field per feature, in engine order.
FeatureVector = msgspec.defstruct(
    "FeatureVector", [(name, float) for name in FEATURE_NAMES], gc=False
)


Variant = Literal["model", "baseline"]


class ShadowScore(msgspec.Struct, frozen=True, gc=False):
    """A model scored in shadow on the same tick: recorded for live quality, never served."""

    model_version: Annotated[str, msgspec.Meta(description="Registry version that scored it.")]
    model_variant: Annotated[Variant, msgspec.Meta(description="LightGBM model or baseline rule.")]
    probability: Annotated[
        float, msgspec.Meta(ge=0, le=1, description="Its probability of a volatility spike.")
    ]
    threshold: Annotated[float, msgspec.Meta(ge=0, le=1, description="Its threshold.")]


class Prediction(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
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
    shadow: Annotated[
        list[ShadowScore],
        msgspec.Meta(description="Models scored in shadow on this tick; never the answer."),
    ] = []


class _LogReturn(msgspec.Struct, frozen=True, gc=False):
    log_return: float


class PredictionHead(msgspec.Struct, frozen=True, gc=False):
    """What an outcome needs of a prediction; decoding it skips the other features."""

    symbol: str
    event_time_ms: int
    probability: float
    threshold: float
    model_version: str
    model_variant: Variant
    features: _LogReturn
    source_partition: int
    source_offset: int
    shadow: list[ShadowScore] = []


_decoder = msgspec.json.Decoder(Prediction)
_head_decoder = msgspec.json.Decoder(PredictionHead)
_encoder = msgspec.json.Encoder()


def encode_predictions(predictions: list[Prediction]) -> list[bytes]:
    """The JSON bytes of each prediction, encoded in one call."""
    if not predictions:
        return []
    return _encoder.encode_lines(predictions).split(b"\n")[:-1]


def decode_prediction(payload: bytes) -> Prediction:
    """Parse and validate one prediction (raises ``msgspec.ValidationError``)."""
    return _decoder.decode(payload)


def decode_head(payload: bytes) -> PredictionHead:
    """The fields of a prediction that its outcome needs (raises ``msgspec.DecodeError``)."""
    return _head_decoder.decode(payload)
