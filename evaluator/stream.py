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
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Final

import msgspec
import numpy as np
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from evaluator.metrics import EvaluatorMetrics
from evaluator.quality import ModelKey, QualityWindows
from evaluator.versions import VersionBook
from volstream.kafka.admin import watermark_consumer
from volstream.kafka.clients import make_consumer
from volstream.kafka.outbox import Outbox
from volstream.kafka.reading import read_to_end
from volstream.labels import HorizonTracker
from volstream.outcomes import ModelOutcome, Outcome, decode_outcome, encode_outcomes
from volstream.predictions import PredictionHead, decode_head
from volstream.settings import EvaluateSettings, KafkaSettings

__all__ = ["Evaluator"]

log = logging.getLogger(__name__)
POLL_SECONDS: Final = 0.2
TAIL_RECORDS: Final = 1000  # outcomes read back per partition on assignment
PARTITION_EOF = -191  # KafkaError._PARTITION_EOF


@dataclass
class PartitionState:
    """One partition of ``predictions``: what waits for its horizon, and what was judged."""

    partition: int
    tracker: HorizonTracker
    judged_through: int = -1  # the last prediction offset with an outcome
    newest_source: dict[int, int] = field(default_factory=dict)  # tick partition -> offset
    next_offset: int = 0  # after the last record read
    rows: deque[tuple[int, PredictionHead]] = field(default_factory=deque)
    symbols: dict[str, int] = field(default_factory=dict)

    def commit_offset(self) -> int:
        """The first prediction still waiting, or past everything read."""
        return self.rows[0][0] if self.rows else self.next_offset


class Evaluator:
    """A consumer-group member on ``predictions`` that publishes ``outcomes``."""

    def __init__(
        self,
        kafka: KafkaSettings,
        settings: EvaluateSettings,
        versions: VersionBook,
        metrics: EvaluatorMetrics,
        windows: QualityWindows,
        lock: threading.Lock,
    ) -> None:
        self.kafka, self.settings, self.versions = kafka, settings, versions
        self.metrics, self.windows, self.lock = metrics, windows, lock
        self.topic = kafka.predictions_topic
        self.horizon_ms = int(settings.horizon_seconds * 1000)
        self.consumer: Consumer = make_consumer(
            kafka, settings.group, required={"enable.partition.eof": settings.stop_at_end}
        )
        self.reader = watermark_consumer(kafka)
        self.outbox = Outbox(kafka)
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
        judged = {}
        for partition, records in by_partition.items():
            state = self.states.get(partition)
            if state is not None:
                self._add(state, records)
                judged[partition] = self._judge(state, now_ms)
        self.metrics.predictions.inc(len(messages))
        self.read += len(messages)
        for partition, outcomes in judged.items():
            self.outbox.send_many(
                self.kafka.outcomes_topic,
                encode_outcomes(outcomes),
                [o.symbol.encode() for o in outcomes],
                [o.label_time_ms for o in outcomes],
                partition,
            )
        self.outbox.flush()
        self._count([o for outcomes in judged.values() for o in outcomes], now_ms)
        self._commit(list(judged))

    def _add(self, state: PartitionState, records: list[Message]) -> None:
        symbols, times, returns = [], [], []
        for record in records:
            offset = record.offset() or 0
            state.next_offset = offset + 1
            if offset <= state.judged_through:
                continue  # published before a restart, not committed
            try:
                head = decode_head(record.value() or b"")
            except msgspec.DecodeError:
                self.metrics.undecodable.inc()
                continue
            if head.source_offset <= state.newest_source.get(head.source_partition, -1):
                self.metrics.duplicates.inc()
                continue
            state.newest_source[head.source_partition] = head.source_offset
            state.rows.append((offset, head))
            symbols.append(state.symbols.setdefault(head.symbol, len(state.symbols)))
            times.append(head.event_time_ms)
            returns.append(head.features.log_return)
        state.tracker.add(np.array(symbols, dtype=np.int64), np.array(times, dtype=np.int64),
                          np.array(returns, dtype=np.float64))  # fmt: skip

    def _judge(self, state: PartitionState, now_ms: int) -> list[Outcome]:
        """Outcomes of the leading predictions whose horizon has passed."""
        closed = state.tracker.closed()
        if closed == 0:
            return []
        volatility = state.tracker.take(closed).tolist()
        horizon_seconds = self.settings.horizon_seconds
        outcomes = []
        for realized in volatility:
            offset, head = state.rows.popleft()
            outcomes.append(Outcome(
                head.symbol, head.event_time_ms, head.event_time_ms + self.horizon_ms, now_ms,
                horizon_seconds, realized, state.partition, offset,
                head.source_partition, head.source_offset, self._models(head, realized),
            ))  # fmt: skip
        state.judged_through = outcomes[-1].prediction_offset
        return outcomes

    def _models(self, head: PredictionHead, realized: float) -> list[ModelOutcome]:
        """The served model's realized label, then each shadow's, by its version's level."""
        models = []
        scores = [(head.model_version, head.model_variant, "served", head.probability,
                   head.threshold)]  # fmt: skip
        scores += [(s.model_version, s.model_variant, "shadow", s.probability, s.threshold)
                   for s in head.shadow]  # fmt: skip
        for version, variant, role, probability, threshold in scores:
            level = self.versions.level(version)
            if level is None:
                self.metrics.unknown_versions.inc()
                continue
            models.append(ModelOutcome(version, variant, role, probability, threshold,  # type: ignore[arg-type]
                                       level, realized > level))  # fmt: skip
        return models

    def _count(self, outcomes: list[Outcome], now_ms: int) -> None:
        """Outcomes published: into the windows and the counters."""
        if not outcomes:
            return
        count_outcomes(self.windows, self.lock, outcomes, self.metrics)
        self.published += len(outcomes)
        delays = [(now_ms - o.event_time_ms) / 1000 for o in outcomes]
        self.metrics.label_delay.observe_many(np.array(delays))
        self.metrics.last_outcome.set(max(o.label_time_ms for o in outcomes) / 1000)
        self.metrics.pending.set(sum(len(s.rows) for s in self.states.values()))

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

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        lost = [tp.partition for tp in partitions]
        self._drop(lost)
        log.warning("lost partitions %s (another member may own them now)", sorted(lost))

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


def count_outcomes(
    windows: QualityWindows,
    lock: threading.Lock,
    outcomes: list[Outcome],
    metrics: EvaluatorMetrics | None = None,
) -> None:
    """Count outcomes in the quality windows, one series per model (and in the counters)."""
    columns: dict[ModelKey, tuple[list[int], list[bool], list[float], float]] = {}
    for outcome in outcomes:
        for model in outcome.models:
            key = ModelKey(model.model_version, model.model_variant, model.role)
            times, labels, probabilities, _ = columns.setdefault(key, ([], [], [], model.threshold))
            times.append(outcome.label_time_ms)
            labels.append(model.label)
            probabilities.append(model.probability)
    with lock:
        for key, (times, labels, probabilities, threshold) in columns.items():
            windows.add(key, np.array(times, dtype=np.int64), np.array(labels, dtype=np.bool_),
                        np.array(probabilities), threshold)  # fmt: skip
    if metrics is not None:
        for key, (times, *_) in columns.items():
            metrics.outcomes.labels(*key).inc(len(times))
