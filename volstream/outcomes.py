"""The outcome contract: what the evaluator publishes to the ``outcomes`` topic.

An outcome is the realized answer to one prediction, known once the label's
horizon has passed: the prediction's identity (its partition and offset in
``predictions``, the tick's in ``ticks``), the model that served it and the
models scored in shadow, the realized volatility (``volstream.labels``) and
each model's realized label (volatility above that version's training level).
Its JSON Schema is ``volstream/schemas/outcome.schema.json``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from volstream.documents import encode_each
from volstream.predictions import Variant

__all__ = ["ModelOutcome", "Outcome", "decode_outcome", "encode_outcomes"]

Role = Literal["served", "shadow"]


class ModelOutcome(msgspec.Struct, frozen=True, gc=False):
    """One model's prediction for the tick and its realized label."""

    model_version: Annotated[str, msgspec.Meta(description="Registry version that scored it.")]
    model_variant: Annotated[Variant, msgspec.Meta(description="LightGBM model or baseline rule.")]
    role: Annotated[Role, msgspec.Meta(description="served: the answer; shadow: scored beside.")]
    probability: Annotated[float, msgspec.Meta(ge=0, le=1, description="Predicted probability.")]
    threshold: Annotated[float, msgspec.Meta(ge=0, le=1, description="The model's threshold.")]
    level: Annotated[
        float, msgspec.Meta(ge=0, description="The version's label level T (training quantile).")
    ]
    label: Annotated[bool, msgspec.Meta(description="Realized: volatility above the level.")]


class Outcome(msgspec.Struct, frozen=True, gc=False):
    """The realized outcome of one prediction."""

    symbol: Annotated[str, msgspec.Meta(min_length=1, description="Instrument id; the key.")]
    event_time_ms: Annotated[
        int, msgspec.Meta(ge=0, description="Event time of the tick, epoch ms UTC.")
    ]
    label_time_ms: Annotated[
        int, msgspec.Meta(ge=0, description="When the outcome became known: event time + horizon.")
    ]
    resolved_time_ms: Annotated[
        int, msgspec.Meta(ge=0, description="When the evaluator computed it, epoch ms UTC.")
    ]
    horizon_seconds: Annotated[float, msgspec.Meta(gt=0, description="The label's horizon H.")]
    realized_volatility: Annotated[
        float, msgspec.Meta(ge=0, description="sqrt(sum of squared log returns over (t, t + H]).")
    ]
    prediction_partition: Annotated[int, msgspec.Meta(ge=0, description="In `predictions`.")]
    prediction_offset: Annotated[int, msgspec.Meta(ge=0, description="In `predictions`.")]
    source_partition: Annotated[int, msgspec.Meta(ge=0, description="Partition of the tick.")]
    source_offset: Annotated[int, msgspec.Meta(ge=0, description="Offset of the tick.")]
    models: Annotated[
        list[ModelOutcome],
        msgspec.Meta(description="The served model first, then the models scored in shadow."),
    ]

    @property
    def served(self) -> ModelOutcome:
        """The model that answered."""
        return self.models[0]


_decoder = msgspec.json.Decoder(Outcome)


def encode_outcomes(outcomes: list[Outcome]) -> list[bytes]:
    """The JSON bytes of each outcome, encoded in one call."""
    return encode_each(outcomes)


def decode_outcome(payload: bytes) -> Outcome:
    """Parse and validate one outcome (raises ``msgspec.ValidationError``)."""
    return _decoder.decode(payload)
