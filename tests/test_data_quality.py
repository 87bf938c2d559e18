"""Data-quality checks on a stream with known faults: each flag counted as injected."""

from __future__ import annotations

from collections import Counter

import numpy as np

from volstream.consumer.pipeline import compute_features
from volstream.consumer.quality import REASONS, StreamQuality
from volstream.feature_engine import FeatureEngine
from volstream.testing.faults import faulted_stream
from volstream.testing.payloads import NOW_MS
from volstream.ticks import decode_batch

START_MS = NOW_MS - 600_000


def check(batches: int) -> tuple[dict[str, int], Counter[str], list[str]]:
    """The stream through decode, the engine and the checks, cut into ``batches``."""
    stream = faulted_stream(START_MS)
    engines = {0: FeatureEngine(jump_sigmas=10)}
    quality = StreamQuality(late_after_ms=5000)
    flagged: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    for chunk in np.array_split(np.arange(len(stream.payloads)), batches):
        payloads = [stream.payloads[i][1] for i in chunk]
        ticks = decode_batch(payloads, now_ms=NOW_MS, max_bytes=4096, future_tolerance_ms=0)
        rejected.update(r.reason for r in ticks.rejects)
        partitions = np.zeros(len(ticks), dtype=np.int64)
        _, flags = compute_features(engines, ticks, partitions)
        flagged.update(quality.count(ticks, partitions, flags))
    counts = {**flagged, **rejected}
    return counts, Counter(stream.injected), engines[0].silent_symbols(60_000)


def test_each_injected_fault_is_counted_once_and_nothing_else() -> None:
    counts, injected, silent = check(batches=1)
    assert set(REASONS) <= set(counts)
    assert {k: v for k, v in counts.items() if v} == injected
    assert silent == ["QA-C"]


def test_the_counts_do_not_depend_on_how_the_stream_is_cut_into_batches() -> None:
    assert check(batches=1) == check(batches=37)


def test_a_symbol_is_silent_only_while_others_tick() -> None:
    engine = FeatureEngine()
    assert engine.silent_symbols(60_000) == []  # no tick yet
    stream = faulted_stream(START_MS, seconds=30)  # QA-C still ticks
    payloads = [payload for _, payload in stream.payloads]
    engine.update(decode_batch(payloads, now_ms=NOW_MS, max_bytes=4096, future_tolerance_ms=0))
    assert engine.silent_symbols(60_000) == []
    assert engine.silent_symbols(250) == []  # each ticked within the last round (300 ms)
    assert engine.silent_symbols(150) == ["QA-A"]  # 200 ms before the last tick
