"""The consumer's array steps, on batches larger than one chunk."""

from __future__ import annotations

import numpy as np

from volstream.consumer.pipeline import ENCODE_CHUNK, Decoded, encode
from volstream.features import FEATURE_NAMES, N_FEATURES
from volstream.model.inference import ModelInfo
from volstream.predictions import decode_prediction
from volstream.ticks import Tick, decode_batch, encode_ticks

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
