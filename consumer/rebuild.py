"""Rebuilding a partition's rolling state when it is assigned.

The last window before the committed offset is re-read and folded into a fresh
feature engine, without publishing predictions, so the first prediction after
a restart or a rebalance already sees full windows. It seeks by time and still
skips records older than the target, so it is right on any broker (Tansu's
offsets-for-times answers the earliest offset: there it only reads more).
"""

from __future__ import annotations

import logging
import time
from typing import Final

from confluent_kafka import Consumer, TopicPartition

from volstream.feature_engine import FeatureEngine
from volstream.features import LONGEST_MS
from volstream.lag import peek_event_times
from volstream.markers import without_markers
from volstream.ticks import decode_batch

__all__ = ["rebuild"]

log = logging.getLogger(__name__)
READ_BATCH: Final = 5000
READ_TIMEOUT_SECONDS: Final = 30.0  # the longest a rebuild may hold up an assignment
POLL_SECONDS: Final = 0.5
LOOKUP_TIMEOUT_SECONDS: Final = 10.0


def rebuild(
    reader: Consumer, topic: str, partition: int, committed: int, engine: FeatureEngine
) -> int:
    """Fold the ``LONGEST_MS`` before offset ``committed`` into ``engine``; ticks folded."""
    if committed <= 0:
        return 0
    last = peek_event_times(reader, {(topic, partition): committed - 1}).get((topic, partition))
    if last is None:
        return 0
    target_ms = last - LONGEST_MS
    [found] = reader.offsets_for_times(
        [TopicPartition(topic, partition, target_ms)], timeout=LOOKUP_TIMEOUT_SECONDS
    )
    start = found.offset if 0 <= found.offset < committed else 0
    reader.assign([TopicPartition(topic, partition, start)])
    folded, deadline, done = 0, time.monotonic() + READ_TIMEOUT_SECONDS, False
    while not done and time.monotonic() < deadline:
        messages = [
            m for m in reader.consume(READ_BATCH, timeout=POLL_SECONDS) if m.error() is None
        ]
        keep = [
            m for m in messages if (m.offset() or 0) < committed and m.timestamp()[1] >= target_ms
        ]
        done = any((m.offset() or 0) >= committed - 1 for m in messages)
        ticks = decode_batch([m.value() for m in keep], now_ms=int(time.time() * 1000) + LONGEST_MS)
        engine.update(without_markers(ticks))
        folded += len(ticks)
    reader.unassign()
    if not done:
        log.warning("rebuilding partition %d stopped after %.0f s; windows may start short",
                    partition, READ_TIMEOUT_SECONDS)  # fmt: skip
    log.info("partition %d: rolling state rebuilt from %d ticks before offset %d",
             partition, folded, committed)  # fmt: skip
    return folded
