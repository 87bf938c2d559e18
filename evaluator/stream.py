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
import numpy.typing as npt
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from msgspec.structs import astuple

from evaluator.metrics import EvaluatorMetrics
from evaluator.quality import ModelKey, QualityWindows
from evaluator.shadow import ShadowModels
from evaluator.versions import VersionBook
from volstream.features import FEATURE_NAMES
from volstream.kafka.admin import watermark_consumer
from volstream.kafka.clients import make_consumer
from volstream.kafka.outbox import Outbox
from volstream.kafka.reading import read_to_end
from volstream.labels import HorizonTracker
from volstream.outcomes import ModelOutcome, Outcome, decode_outcome, encode_outcomes
from volstream.predictions import (
    FullPredictionHead,
    LabelFeatures,
    PredictionHead,
    decode_heads,
)
from volstream.settings import EvaluateSettings, KafkaSettings

__all__ = ["Evaluator"]

log = logging.getLogger(__name__)
POLL_SECONDS: Final = 0.2
# Outcomes wait a horizon anyway: fetch rarely and much (Tansu's cost is per fetch).
FETCH_TUNING: Final = {"fetch.wait.max.ms": 100, "max.partition.fetch.bytes": 4_194_304}
COMPACT_AFTER: Final = 100_000  # taken predictions dropped from the lists in one go
TAIL_RECORDS: Final = 1000  # outcomes read back per partition on assignment
PARTITION_EOF = -191  # KafkaError._PARTITION_EOF


FloatArray = npt.NDArray[np.float64]
#: Per model judged in a batch: its key, label times, labels, probabilities and threshold.
Counts = list[
    tuple[ModelKey, npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.float64], float]
]


@dataclass(frozen=True)
class Column:
    """Predictions of one served version being judged: rows, what happened, and where to put it."""

    rows: list[int]
    realized: FloatArray
    label_times: npt.NDArray[np.int64]
    judged: list[list[ModelOutcome]]
    counts: Counts


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


class Evaluator:
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
        self.kafka, self.settings, self.versions = kafka, settings, versions
        self.shadows = shadows
        self.metrics, self.windows, self.lock = metrics, windows, lock
        self.topic = kafka.predictions_topic
        self.horizon_ms = int(settings.horizon_seconds * 1000)
        self.consumer: Consumer = make_consumer(
            kafka, settings.group, tuning=FETCH_TUNING,
            required={"enable.partition.eof": settings.stop_at_end},
        )  # fmt: skip
        self.reader = watermark_consumer(kafka)
        self.outbox = Outbox(kafka)
        self.states: dict[int, PartitionState] = {}
        self._levels: dict[str, float] = {}  # each version's label level, once found
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
                [o.symbol.encode() for o in outcomes],
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
        models = self._models(heads, volatility, counts)
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

    def _models(
        self, heads: list[PredictionHead], volatility: npt.NDArray[np.float64], counts: Counts
    ) -> list[list[ModelOutcome]]:
        """Per prediction: the served model's realized label, then each shadow's.

        The models in shadow score together the predictions of one served version
        (nearly always the whole batch), from the features each prediction carries.
        """
        judged: list[list[ModelOutcome]] = [[] for _ in heads]
        for (version, variant), rows in _by_served(heads).items():
            realized = volatility[rows]
            label_times = np.array([heads[r].event_time_ms for r in rows]) + self.horizon_ms
            column = Column(rows, realized, label_times, judged, counts)
            probabilities = np.array([heads[row].probability for row in rows])
            self._label(column, ModelKey(version, variant, "served"), heads[rows[0]].threshold,
                        probabilities)  # fmt: skip
            shadows = self.shadows.beside(version, variant)
            if not shadows:
                continue
            group = [heads[row] for row in rows]
            carried = _carried(group)
            shadows = [p for p in shadows if set(self.shadows.reads(p)) <= carried]
            read = {name for predictor in shadows for name in self.shadows.reads(predictor)}
            features = _feature_matrix(group, read)
            for predictor in shadows:
                info = predictor.info
                self._label(column, ModelKey(info.version, info.variant, "shadow"), info.threshold,
                            predictor.predict_proba(features))  # fmt: skip
        return judged

    def _label(
        self, column: Column, key: ModelKey, threshold: float, probabilities: FloatArray
    ) -> None:
        """One model's outcome for each row of ``column``, labelled by its version's level."""
        level = self._level(key.version)
        if level is None:
            return
        labels = column.realized > level
        column.counts.append((key, column.label_times, labels, probabilities, threshold))
        version, variant, role = key
        outcomes = [
            ModelOutcome(version, variant, role, probability, threshold, level, label)  # type: ignore[arg-type]
            for probability, label in zip(probabilities.tolist(), labels.tolist(), strict=True)
        ]
        judged = column.judged
        for row, outcome in zip(column.rows, outcomes, strict=True):
            judged[row].append(outcome)

    def _level(self, version: str) -> float | None:
        level = self._levels.get(version)
        if level is None:
            level = self.versions.level(version)
            if level is None:
                self.metrics.unknown_versions.inc()
            else:
                self._levels[version] = level
        return level

    def _count(self, outcomes: list[Outcome], counts: Counts, now_ms: int) -> None:
        """Outcomes published: into the windows and the counters."""
        if not outcomes:
            return
        with self.lock:
            for key, times, labels, probabilities, threshold in counts:
                self.windows.add(key, times, labels, probabilities, threshold)
        for key, times, *_ in counts:
            self.metrics.outcomes.labels(*key).inc(len(times))
        self.published += len(outcomes)
        delays = [(now_ms - o.event_time_ms) / 1000 for o in outcomes]
        self.metrics.label_delay.observe_many(np.array(delays))
        self.metrics.last_outcome.set(max(o.label_time_ms for o in outcomes) / 1000)
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
    """Count outcomes in the quality windows, one series per model (and in the counters).

    Models are taken by position (the served one, then each shadow), which within a
    batch are nearly always the same models: one array per position, split by model
    only where they differ.
    """
    width = max((len(o.models) for o in outcomes), default=0)
    for position in range(width):
        judged = [(o.label_time_ms, o.models[position]) for o in outcomes
                  if len(o.models) > position]  # fmt: skip
        by_model: dict[ModelKey, list[tuple[int, ModelOutcome]]] = {}
        first = judged[0][1]
        same = all(m.model_version == first.model_version and m.model_variant ==
                   first.model_variant and m.role == first.role for _, m in judged)  # fmt: skip
        if same:
            by_model[ModelKey(first.model_version, first.model_variant, first.role)] = judged
        else:
            for time_ms, model in judged:
                key = ModelKey(model.model_version, model.model_variant, model.role)
                by_model.setdefault(key, []).append((time_ms, model))
        with lock:
            for key, rows in by_model.items():
                times = np.array([t for t, _ in rows], dtype=np.int64)
                labels = np.array([m.label for _, m in rows], dtype=np.bool_)
                probabilities = np.array([m.probability for _, m in rows])
                windows.add(key, times, labels, probabilities, rows[0][1].threshold)
        if metrics is not None:
            for key, rows in by_model.items():
                metrics.outcomes.labels(*key).inc(len(rows))


def _by_served(heads: list[PredictionHead]) -> dict[tuple[str, str], list[int]]:
    """Row numbers of the predictions of each served version and variant."""
    served = [(h.model_version, h.model_variant) for h in heads]
    if len(set(served)) == 1:
        return {served[0]: list(range(len(heads)))}
    groups: dict[tuple[str, str], list[int]] = {}
    for row, key in enumerate(served):
        groups.setdefault(key, []).append(row)
    return groups


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


def _feature_matrix(heads: list[PredictionHead], read: set[str]) -> FloatArray:
    """The feature rows of ``heads``; only the columns in ``read`` filled (the rest NaN)."""
    if len(read) == len(FEATURE_NAMES):
        return np.array([astuple(head.features) for head in heads])
    matrix = np.full((len(heads), len(FEATURE_NAMES)), np.nan)
    for name in read:
        matrix[:, FEATURE_NAMES.index(name)] = [getattr(h.features, name) for h in heads]
    return matrix


def _carried(heads: list[PredictionHead]) -> set[str]:
    """The features these predictions were decoded with (all, or the label's)."""
    if all(isinstance(head, FullPredictionHead) for head in heads):
        return set(FEATURE_NAMES)
    return set(LabelFeatures.__struct_fields__)
