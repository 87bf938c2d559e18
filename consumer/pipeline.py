"""The array steps of one batch: messages to ticks, ticks to features, scores to predictions.

Each step takes arrays and returns arrays; ``StreamConsumer._process``
(:mod:`volstream.consumer.stream`) owns their order,
the clients and the offsets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

import numpy as np
import numpy.typing as npt
from confluent_kafka import KafkaError, Message

from volstream.feature_engine import FeatureEngine
from volstream.features import N_FEATURES
from volstream.kafka.clients import PARTITION_EOF
from volstream.markers import MARKER_FEATURES, MarkerEcho, encode_echoes, marker_positions
from volstream.model.inference import ModelInfo, Predictor
from volstream.predictions import FeatureVector, Prediction, encode_predictions
from volstream.ticks import Reject, TickBatch, decode_batch

__all__ = [
    "Polled",
    "Decoded",
    "Markers",
    "compute_features",
    "dead_letter_headers",
    "decode",
    "encode",
    "encode_markers",
    "score",
    "split",
    "take_markers",
]

IntArray = npt.NDArray[np.int64]
# Python objects for 1,000 predictions are built, encoded and freed while still in the CPU
# cache; all 10,000 of a batch at once fell out of it (docs/benchmarks.md).
ENCODE_CHUNK: Final = 1000


@dataclass
class Polled:
    """What one consume() returned: records, partitions that reached their end, errors."""

    messages: list[Message]
    at_end: set[int]
    errors: list[KafkaError]


def split(raw: Sequence[Message]) -> Polled:
    """Separate records from end-of-partition events and errors."""
    messages: list[Message] = []
    at_end: set[int] = set()
    errors: list[KafkaError] = []
    for message in raw:
        error = message.error()
        if error is None:
            messages.append(message)
        elif error.code() == PARTITION_EOF:
            at_end.add(int(message.partition() or 0))
        else:
            errors.append(error)
    return Polled(messages, at_end, errors)


@dataclass
class Decoded:
    """Valid ticks with where each came from, and the rejects."""

    ticks: TickBatch
    partitions: IntArray  # of each valid tick
    offsets: IntArray
    all_partitions: IntArray  # of every message, valid or not
    all_offsets: IntArray


def decode(messages: list[Message], now_ms: int, max_bytes: int, tolerance_ms: int) -> Decoded:
    """Decode and validate the batch's payloads."""
    n = len(messages)
    partitions = np.fromiter((m.partition() for m in messages), dtype=np.int64, count=n)
    offsets = np.fromiter((m.offset() for m in messages), dtype=np.int64, count=n)
    ticks = decode_batch(
        [m.value() for m in messages],
        now_ms=now_ms,
        max_bytes=max_bytes,
        future_tolerance_ms=tolerance_ms,
    )
    return Decoded(ticks, partitions[ticks.index], offsets[ticks.index], partitions, offsets)


@dataclass
class Markers:
    """The canary markers of a batch, taken out of it."""

    ticks: TickBatch
    partitions: IntArray
    offsets: IntArray

    def __len__(self) -> int:
        return len(self.ticks)


def take_markers(decoded: Decoded) -> tuple[Decoded, Markers | None]:
    """The batch less its canary markers, and the markers (None when it has none).

    Markers are decoded with the batch (they pass the same checks) but never reach
    the feature engine: no symbol's rolling state sees them.
    """
    positions = marker_positions(decoded.ticks.symbol)
    if not positions:
        return decoded, None
    ticks = decoded.ticks.drop(positions)
    ticks.rejects = decoded.ticks.rejects
    at = np.array(positions)
    markers = Markers(decoded.ticks.take(at), decoded.partitions[at], decoded.offsets[at])
    rest = replace(decoded, ticks=ticks, partitions=np.delete(decoded.partitions, at),
                   offsets=np.delete(decoded.offsets, at))  # fmt: skip
    return rest, markers


def score(
    predictor: Predictor, features: npt.NDArray[np.float64], markers: Markers | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Probabilities of the batch and of its markers, from one inference call (a marker
    scores the fixed row ``MARKER_FEATURES``), so the markers cross the same path."""
    if markers is None:
        return predictor.predict_proba(features), np.zeros(0)
    rows = np.vstack([features, np.tile(MARKER_FEATURES, (len(markers), 1))])
    probabilities = predictor.predict_proba(rows)
    return probabilities[: len(features)], probabilities[len(features) :]


def compute_features(
    engines: dict[int, FeatureEngine], ticks: TickBatch, partitions: IntArray
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.uint8]]:
    """Features and data-quality flags of every tick, each partition through its own engine
    (its own symbols)."""
    features = np.empty((len(ticks), N_FEATURES))
    flags = np.empty(len(ticks), dtype=np.uint8)
    for partition in np.unique(partitions).tolist():
        rows = partitions == partition
        features[rows], flags[rows] = engines[partition].update_flagged(ticks.take(rows))
    return features, flags


def encode(
    decoded: Decoded,
    features: npt.NDArray[np.float64],
    probabilities: npt.NDArray[np.float64],
    info: ModelInfo,
    processed_ms: int,
) -> list[bytes]:
    """One prediction document per valid tick, a chunk at a time (see ``ENCODE_CHUNK``)."""
    ticks, threshold = decoded.ticks, info.threshold
    values: list[bytes] = []
    for start in range(0, len(ticks), ENCODE_CHUNK):
        rows = slice(start, start + ENCODE_CHUNK)
        columns = zip(
            ticks.symbol[rows],
            ticks.event_time_ms[rows].tolist(),
            probabilities[rows].tolist(),
            features[rows].tolist(),
            decoded.partitions[rows].tolist(),
            decoded.offsets[rows].tolist(),
            strict=True,
        )
        values += encode_predictions([
            Prediction(symbol, event_ms, processed_ms, p, p >= threshold, threshold,
                       info.version, info.variant, FeatureVector(*row), partition, offset)
            for symbol, event_ms, p, row, partition, offset in columns
        ])  # fmt: skip
    return values


def encode_markers(
    markers: Markers, probabilities: npt.NDArray[np.float64], info: ModelInfo, processed_ms: int
) -> list[bytes]:
    """One echo per marker, for the canary topic."""
    ticks = markers.ticks
    columns = zip(
        ticks.sequence.tolist(), ticks.trade_id.tolist(), ticks.event_time_ms.tolist(),
        markers.partitions.tolist(), markers.offsets.tolist(), probabilities.tolist(),
        strict=True,
    )  # fmt: skip
    return encode_echoes([
        MarkerEcho(run, number, sent_ms, partition, offset, processed_ms, p, info.version)
        for run, number, sent_ms, partition, offset, p in columns
    ])  # fmt: skip


def dead_letter_headers(
    reject: Reject, topic: str, message: Message
) -> list[tuple[str, str | bytes | None]]:
    """Headers of a dead-letter record: why, and where the original came from."""
    return [
        ("reason", reject.reason.encode()),
        ("detail", reject.detail.encode()[:1000]),
        ("source_topic", topic.encode()),
        ("source_partition", str(message.partition()).encode()),
        ("source_offset", str(message.offset()).encode()),
    ]
