"""The canary contract: marker ticks in, marker echoes out.

``volstream canary`` sends one marker per partition of the ``ticks`` topic every
few seconds: a valid tick of the reserved symbol :data:`CANARY_SYMBOL`, with the
header :data:`CANARY_HEADER` for any other reader of the topic. The consumer
decodes it with the batch and scores it with the batch (on a fixed feature row),
but takes it out before the feature engine, so no symbol's state changes, and
publishes a :class:`MarkerEcho` to the ``canary`` topic instead of a prediction:
no reader of predictions ever sees a marker. ``docs/canary.md`` explains it.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec
import numpy as np

from volstream.documents import encode_each
from volstream.features import N_FEATURES
from volstream.ticks import Tick, TickBatch

__all__ = [
    "CANARY_HEADER",
    "CANARY_SYMBOL",
    "MARKER_FEATURES",
    "MarkerEcho",
    "decode_echo",
    "encode_echoes",
    "marker_positions",
    "marker_tick",
    "without_markers",
]

#: The symbol of every marker. Valid by the tick contract, so a marker passes decode; no
#: exchange lists it.
CANARY_SYMBOL: Final = "volstream.canary"
CANARY_HEADER: Final = "volstream-canary"
#: What the model scores for a marker: a fixed row, so the echo's probability is the same
#: for a given model version, whatever the market does.
MARKER_FEATURES: Final = np.zeros(N_FEATURES)


def marker_tick(run: int, number: int, sent_ms: int) -> Tick:
    """Marker ``number`` of canary run ``run`` (the run's start, epoch ms), sent at ``sent_ms``.

    The run and number travel as the tick's ``sequence`` and ``trade_id``, so a marker is
    a tick like any other to the decoder.
    """
    return Tick(CANARY_SYMBOL, sent_ms, 1.0, 0.0, 1.0, 1.0001, 0.0, 0.0, "buy", number, run)


def marker_positions(symbols: list[str]) -> list[int]:
    """Where the markers are, ascending; empty in the usual case. Scans in C (``list.index``):
    a batch holds a few markers at most."""
    positions: list[int] = []
    start = 0
    while True:
        try:
            start = symbols.index(CANARY_SYMBOL, start) + 1
        except ValueError:
            return positions
        positions.append(start - 1)


def without_markers(ticks: TickBatch) -> TickBatch:
    """``ticks`` less its markers (the same object when it has none)."""
    positions = marker_positions(ticks.symbol)
    return ticks.drop(positions) if positions else ticks


class MarkerEcho(msgspec.Struct, frozen=True, gc=False):
    """What the consumer publishes for one marker, to the ``canary`` topic."""

    run: Annotated[int, msgspec.Meta(ge=0, description="Canary run (its start, epoch ms).")]
    marker: Annotated[int, msgspec.Meta(ge=0, description="Marker number within the run.")]
    sent_ms: Annotated[int, msgspec.Meta(ge=0, description="When the canary sent it, epoch ms.")]
    source_partition: Annotated[int, msgspec.Meta(ge=0, description="Ticks partition it crossed.")]
    source_offset: Annotated[int, msgspec.Meta(ge=0, description="Its offset there.")]
    processed_ms: Annotated[int, msgspec.Meta(ge=0, description="When the consumer scored it.")]
    probability: Annotated[float, msgspec.Meta(ge=0, le=1, description="The model's score.")]
    model_version: Annotated[str, msgspec.Meta(description="Registry version that scored it.")]


_decoder = msgspec.json.Decoder(MarkerEcho)


def encode_echoes(echoes: list[MarkerEcho]) -> list[bytes]:
    """The JSON bytes of each echo."""
    return encode_each(echoes)


def decode_echo(payload: bytes) -> MarkerEcho:
    """Parse and validate one echo (raises ``msgspec.ValidationError``)."""
    return _decoder.decode(payload)
