"""The consumer's array steps, on batches larger than one chunk."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from volstream.consumer.pipeline import (
    ENCODE_CHUNK,
    Decoded,
    encode,
    encode_markers,
    score,
    take_markers,
)
from volstream.features import FEATURE_NAMES, N_FEATURES
from volstream.markers import decode_echo, marker_tick, without_markers
from volstream.model.inference import ModelInfo
from volstream.predictions import decode_prediction
from volstream.ticks import Tick, TickBatch, decode_batch, encode_tick, encode_ticks

NOW_MS = 1_763_650_000_000


def test_encode_keeps_each_row_with_its_tick_across_chunks() -> None:
    n = 2 * ENCODE_CHUNK + 300
    ticks = [
        Tick(f"S{i % 7}", NOW_MS - i, 100.0, 1.0, 99.0, 101.0, 2.0, 3.0, "buy", i, i)
        for i in range(n)
    ]
    batch = decode_batch(encode_ticks(ticks), now_ms=NOW_MS)
    partitions, offsets = np.arange(n) % 6, np.arange(n) + 1000
    decoded = Decoded(batch, partitions, offsets, partitions, offsets)
    features = np.random.default_rng(1).random((n, N_FEATURES))
    probabilities = np.linspace(0, 1, n)
    info = ModelInfo("v7", "model", "cpu", 0.5, 0.1)

    documents = [
        decode_prediction(v) for v in encode(decoded, features, probabilities, info, NOW_MS)
    ]

    assert len(documents) == n
    for i, document in enumerate(documents):
        assert (document.symbol, document.event_time_ms) == (f"S{i % 7}", NOW_MS - i)
        assert (document.source_partition, document.source_offset) == (i % 6, i + 1000)
        assert document.probability == probabilities[i]
        assert document.spike == (probabilities[i] >= 0.5)
        assert [getattr(document.features, f) for f in FEATURE_NAMES] == features[i].tolist()


class RecordingPredictor:
    """Scores row i as i / 1000 and records each call's row count (pure logic, no model)."""

    def __init__(self) -> None:
        self.info = ModelInfo("v3", "model", "cpu", 0.5, 0.0)
        self.calls: list[int] = []

    def predict_proba(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        self.calls.append(len(features))
        return np.arange(len(features)) / 1000


def test_markers_are_taken_out_scored_in_the_same_call_and_echoed() -> None:
    ticks = [Tick(f"S{i % 3}", NOW_MS - 100 + i, 100.0, 1.0, 99.0, 101.0, 2.0, 3.0, "buy", i, i)
             for i in range(10)]  # fmt: skip
    payloads = encode_ticks(ticks)
    payloads[4] = b"not json"
    payloads[2] = encode_tick(marker_tick(run=77, number=1, sent_ms=NOW_MS - 5))
    payloads[7] = encode_tick(marker_tick(run=77, number=2, sent_ms=NOW_MS - 3))
    partitions, offsets = np.arange(10) % 2, np.arange(10) + 500
    batch = decode_batch(payloads, now_ms=NOW_MS)
    decoded = Decoded(batch, partitions[batch.index], offsets[batch.index], partitions, offsets)

    rest, markers = take_markers(decoded)

    assert markers is not None and len(markers) == 2
    assert rest.ticks.symbol == [t.symbol for i, t in enumerate(ticks) if i not in (2, 4, 7)]
    assert rest.offsets.tolist() == [500, 501, 503, 505, 506, 508, 509]
    assert [r.index for r in rest.ticks.rejects] == [4]  # the reject still goes to the DLQ
    assert rest.all_offsets.tolist() == offsets.tolist()  # markers are committed like any record
    predictor = RecordingPredictor()
    features = np.ones((len(rest.ticks), N_FEATURES))
    probabilities, marker_probabilities = score(predictor, features, markers)
    assert predictor.calls == [9]  # one call: the batch, then the markers
    assert probabilities.tolist() == (np.arange(7) / 1000).tolist()
    echoes = [decode_echo(v) for v in encode_markers(markers, marker_probabilities,
                                                     predictor.info, NOW_MS)]  # fmt: skip
    assert [(e.run, e.marker, e.sent_ms) for e in echoes] == [(77, 1, NOW_MS - 5),
                                                              (77, 2, NOW_MS - 3)]  # fmt: skip
    assert [(e.source_partition, e.source_offset) for e in echoes] == [(0, 502), (1, 507)]
    assert [e.probability for e in echoes] == [0.007, 0.008]
    assert {e.model_version for e in echoes} == {"v3"}


def test_a_batch_without_markers_is_left_as_it_is() -> None:
    batch = decode_batch(encode_ticks([Tick("S", NOW_MS, 1.0, 1.0, 1.0, 1.1, 1.0, 1.0, "buy",
                                            1, 1)]), now_ms=NOW_MS)  # fmt: skip
    decoded = Decoded(batch, np.zeros(1, np.int64), np.zeros(1, np.int64),
                      np.zeros(1, np.int64), np.zeros(1, np.int64))  # fmt: skip
    assert take_markers(decoded) == (decoded, None)
    assert without_markers(batch) is batch
    marked = decode_batch([encode_tick(marker_tick(1, 1, NOW_MS))], now_ms=NOW_MS)
    assert len(without_markers(TickBatch.concat([batch, marked]))) == 1
