"""The evaluator's loop: predictions in, one outcome each out, counted once in the windows.

One batch, in order: poll → decode → per partition, skip what already has an
outcome and ticks already seen (a consumer's replay), add the rest to the
partition's horizon tracker → take the leading predictions whose horizon has
passed → build their outcomes → publish and wait for the acks → count them in
the quality windows → commit past them.

Outcomes leave a partition in offset order, so "what already has an outcome"
is one offset per partition: on assignment it is read back from the tail of
the same partition of the outcomes topic. A restart therefore publishes no
outcome twice and loses none: what was committed is judged, and what was
published after the last commit is skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from volstream.evaluator.judge import Counts, Judge, count
from volstream.evaluator.metrics import EvaluatorMetrics
from volstream.evaluator.quality import QualityWindows
from volstream.evaluator.shadow import ShadowModels
from volstream.evaluator.versions import VersionBook
from volstream.kafka.clients import PARTITION_EOF, make_consumer, make_reader
from volstream.kafka.membership import PartitionOwner
from volstream.kafka.outbox import Outbox
from volstream.kafka.reading import read_to_end
from volstream.kafka.sender import SymbolKeys
from volstream.labels import HorizonTracker
from volstream.outcomes import Outcome, decode_outcome, encode_outcomes
from volstream.predictions import PredictionHead, decode_heads
from volstream.settings import EvaluateSettings, KafkaSettings

__all__ = ["Evaluator"]

log = logging.getLogger(__name__)
POLL_SECONDS: Final = 0.2
# Outcomes wait a horizon anyway: fetch rarely and much (Tansu's cost is per fetch).
FETCH_TUNING: Final = {"fetch.wait.max.ms": 100, "max.partition.fetch.bytes": 4_194_304}
COMPACT_AFTER: Final = 100_000  # taken predictions dropped from the lists in one go
TAIL_RECORDS: Final = 1000  # outcomes read back per partition on assignment


@dataclass
class PartitionState:
    """One partition of ``predictions``: what waits for its horizon, and what was judged."""

    partition: int
    tracker: HorizonTracker
    judged_through: int = -1  # the last prediction offset with an outcome
    newest_source: dict[int, int] = field(default_factory=dict)  # tick partition -> offset
    next_offset: int = 0  # after the last record read
    offsets: list[int] = field(default_factory=list)  # of the predictions kept, from ``start``
    heads: list[PredictionHead] = field(default_factory=list)
    start: int = 0
    symbols: dict[str, int] = field(default_factory=dict)

    @property
    def waiting(self) -> int:
        """Predictions kept whose horizon has not passed."""
        return len(self.heads) - self.start

    def commit_offset(self) -> int:
        """The first prediction still waiting, or past everything read."""
        return self.offsets[self.start] if self.waiting else self.next_offset

    def take(self, n: int) -> tuple[list[int], list[PredictionHead]]:
        """The next ``n`` waiting predictions, no longer kept."""
        end = self.start + n
        taken = self.offsets[self.start : end], self.heads[self.start : end]
        self.start = end
        if self.start > COMPACT_AFTER and self.start * 2 > len(self.heads):
            del self.offsets[: self.start], self.heads[: self.start]
            self.start = 0
        return taken


class Evaluator(PartitionOwner):
    """A consumer-group member on ``predictions`` that publishes ``outcomes``."""

    def __init__(
        self,
        kafka: KafkaSettings,
        settings: EvaluateSettings,
        versions: VersionBook,
        shadows: ShadowModels,
        metrics: EvaluatorMetrics,
        windows: QualityWindows,
        lock: threading.Lock,
    ) -> None:
        self.kafka, self.settings, self.shadows = kafka, settings, shadows
        self.metrics, self.windows, self.lock = metrics, windows, lock
        self.topic = kafka.predictions_topic
        self.horizon_ms = int(settings.horizon_seconds * 1000)
        self.consumer: Consumer = make_consumer(
            kafka, settings.group, tuning=FETCH_TUNING,
            required={"enable.partition.eof": settings.stop_at_end},
        )  # fmt: skip
        self.reader = make_reader(kafka, "evaluate")
        self.outbox = Outbox(kafka)
        self._keys = SymbolKeys()
        self.judge = Judge(versions, shadows, self.horizon_ms, metrics)
        self.states: dict[int, PartitionState] = {}
        self.at_end: set[int] = set()
        self.published = 0
        self.restored = 0  # outcomes counted into the windows at start-up
        self.read = 0  # predictions read
        self.first_batch_at: float | None = None  # perf_counter of the first poll with data
        self.last_batch_at: float | None = None

    def run(self, stop: threading.Event) -> None:
        self.consumer.subscribe([self.topic], on_assign=self._on_assign,
                                on_revoke=self._on_revoke, on_lost=self._on_lost)  # fmt: skip
        log.info("judging %s into %s as group %s", self.topic, self.kafka.outcomes_topic,
                 self.settings.group)  # fmt: skip
        while not stop.is_set():
            messages = []
            for message in self.consumer.consume(self.settings.batch_size, timeout=POLL_SECONDS):
                error = message.error()
                if error is None:
                    messages.append(message)
                    self.at_end.discard(message.partition() or 0)
                elif error.code() == PARTITION_EOF:
                    self.at_end.add(message.partition() or 0)
                else:
                    log.warning("evaluator: %s", error.str())
            if messages:
                self.first_batch_at = self.first_batch_at or time.perf_counter()
                self._process(messages)
                self.last_batch_at = time.perf_counter()
            else:
                self.outbox.serve()
            if self.settings.stop_at_end and self.states and self.at_end >= self.states.keys():
                log.info("every assigned partition is caught up; stopping")
                break

    @property
    def busy_seconds(self) -> float:
        """From the first poll that returned data to the end of the last batch."""
        if self.first_batch_at is None or self.last_batch_at is None:
            return 0.0
        return self.last_batch_at - self.first_batch_at

    def _process(self, messages: list[Message]) -> None:
        """Judge what the batch completes, publish it, count it, commit past it."""
        by_partition: dict[int, list[Message]] = defaultdict(list)
        for message in messages:
            by_partition[message.partition() or 0].append(message)
        now_ms = int(time.time() * 1000)
        judged: dict[int, list[Outcome]] = {}
        counts: Counts = []
        for partition, records in by_partition.items():
            state = self.states.get(partition)
            if state is not None:
                self._add(state, records)
                judged[partition] = self._judge(state, now_ms, counts)
        self.metrics.predictions.inc(len(messages))
        self.read += len(messages)
        for partition, outcomes in judged.items():
            self.outbox.send_many(
                self.kafka.outcomes_topic,
                encode_outcomes(outcomes),
                self._keys.of(o.symbol for o in outcomes),
                [o.label_time_ms for o in outcomes],
                partition,
            )
        self.outbox.flush()
        self._count([o for outcomes in judged.values() for o in outcomes], counts, now_ms)
        self._commit(list(judged))

    def _add(self, state: PartitionState, records: list[Message]) -> None:
        offsets = [record.offset() or 0 for record in records]
        state.next_offset = offsets[-1] + 1
        if offsets[0] <= state.judged_through:  # published before a restart, not committed
            records = [r for r, o in zip(records, offsets, strict=True) if o > state.judged_through]
            offsets = offsets[len(offsets) - len(records) :]
        payloads = [record.value() or b"" for record in records]
        # What the label and the baseline rule read, unless a LightGBM model in shadow (a
        # challenger, or the model beside a served baseline) reads every feature.
        full = self.shadows.challenger() is not None
        heads = decode_heads(payloads, full)
        if not full and any(h and h.model_variant == "baseline" for h in heads):
            heads = decode_heads(payloads, full=True)
        kept_offsets, kept = _new_ticks(offsets, heads, state.newest_source)
        if len(kept) < len(heads):
            undecodable = heads.count(None)
            self.metrics.undecodable.inc(undecodable)
            self.metrics.duplicates.inc(len(heads) - undecodable - len(kept))
        state.offsets += kept_offsets
        state.heads += kept
        symbols = state.symbols
        state.tracker.add(
            np.array([symbols.setdefault(h.symbol, len(symbols)) for h in kept], dtype=np.int64),
            np.array([h.event_time_ms for h in kept], dtype=np.int64),
            np.array([h.features.log_return for h in kept], dtype=np.float64),
        )

    def _judge(self, state: PartitionState, now_ms: int, counts: Counts) -> list[Outcome]:
        """Outcomes of the leading predictions whose horizon has passed (and their counts)."""
        closed = state.tracker.closed()
        if closed == 0:
            return []
        volatility = state.tracker.take(closed)
        offsets, heads = state.take(closed)
        models = self.judge.models(heads, volatility, counts)
        horizon_ms, horizon_seconds = self.horizon_ms, self.settings.horizon_seconds
        partition = state.partition
        outcomes = [
            Outcome(head.symbol, head.event_time_ms, head.event_time_ms + horizon_ms, now_ms,
                    horizon_seconds, realized, partition, offset, head.source_partition,
                    head.source_offset, judged)
            for offset, head, realized, judged in zip(
                offsets, heads, volatility.tolist(), models, strict=True
            )
        ]  # fmt: skip
        state.judged_through = offsets[-1]
        return outcomes

    def _count(self, outcomes: list[Outcome], counts: Counts, now_ms: int) -> None:
        """Outcomes published: into the windows and the counters."""
        if not outcomes:
            return
        count(self.windows, self.lock, counts, self.metrics)
        self.published += len(outcomes)
        event_ms = np.array([o.event_time_ms for o in outcomes], dtype=np.int64)
        self.metrics.label_delay.observe_many((now_ms - event_ms) / 1000)
        self.metrics.last_outcome.set((int(event_ms.max()) + self.horizon_ms) / 1000)
        self.metrics.pending.set(sum(s.waiting for s in self.states.values()))

    def _commit(self, partitions: list[int], asynchronous: bool = True) -> None:
        offsets = [
            TopicPartition(self.topic, p, self.states[p].commit_offset())
            for p in partitions
            if p in self.states and self.states[p].next_offset > 0
        ]
        if not offsets:
            return
        try:
            if asynchronous:
                self.consumer.commit(offsets=offsets, asynchronous=True)
            else:
                self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as e:
            log.warning("offset commit failed: %s", e)

    # Rebalancing ----------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if not partitions:  # a cooperative rebalance that gave this member nothing new
            return
        for tp in partitions:
            state = PartitionState(tp.partition, HorizonTracker(self.horizon_ms))
            state.judged_through, state.newest_source = self._judged(tp.partition)
            self.states[tp.partition] = state
        log.info("assigned partitions %s", sorted(tp.partition for tp in partitions))

    def _judged(self, partition: int) -> tuple[int, dict[int, int]]:
        """From the tail of the outcomes partition: the last prediction offset judged, and the
        newest tick offset judged per tick partition."""
        topic = self.kafka.outcomes_topic
        low, high = self.reader.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=self.kafka.timeout_seconds
        )
        start = max(low, high - TAIL_RECORDS)
        judged, newest = -1, dict[int, int]()
        for records in read_to_end(self.reader, topic, {partition: start},
                                   self.kafka.timeout_seconds):  # fmt: skip
            for record in records:
                outcome = decode_outcome(record.value() or b"")
                judged = max(judged, outcome.prediction_offset)
                source = outcome.source_partition
                newest[source] = max(newest.get(source, -1), outcome.source_offset)
        return judged, newest

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = [tp.partition for tp in partitions]
        self._commit(revoked, asynchronous=False)
        self._drop(revoked)
        log.info("revoked partitions %s", sorted(revoked))

    def _drop(self, partitions: list[int]) -> None:
        for p in partitions:
            self.states.pop(p, None)
            self.at_end.discard(p)

    def close(self) -> None:
        """Commit what is judged, leave the group."""
        self._commit(list(self.states), asynchronous=False)
        self.consumer.close()
        self.reader.close()
        self.outbox.close()


def _new_ticks(
    offsets: list[int], heads: list[PredictionHead | None], newest: dict[int, int]
) -> tuple[list[int], list[PredictionHead]]:
    """The decoded predictions of ticks not seen before (a consumer's replay repeats some).

    ``newest`` (tick partition -> newest tick offset judged) is brought up to date.
    """
    if None not in heads:
        sources = {h.source_partition for h in heads}  # type: ignore[union-attr]
        if len(sources) == 1:  # the usual case: no replay, one tick partition
            [source] = sources
            ticks = np.array([h.source_offset for h in heads], dtype=np.int64)  # type: ignore[union-attr]
            if ticks[0] > newest.get(source, -1) and np.all(np.diff(ticks) > 0):
                newest[source] = int(ticks[-1])
                return offsets, heads  # type: ignore[return-value]
    kept_offsets, kept = [], []
    for offset, head in zip(offsets, heads, strict=True):
        if head is not None and head.source_offset > newest.get(head.source_partition, -1):
            newest[head.source_partition] = head.source_offset
            kept_offsets.append(offset)
            kept.append(head)
    return kept_offsets, kept
