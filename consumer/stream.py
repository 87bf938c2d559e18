"""The consumer's batch loop: one group member, its clients, offsets and rebalancing.

One batch, in order: poll → decode → features → inference → encode → settle the
previous batch (acks, then commit) → publish. Between two batches the loop
follows the registry: a promotion swaps the model, so each batch is scored by
one version. An offset is committed only after
everything before it was acknowledged, so a crash repeats at most the batches
in hand (at-least-once).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from volstream.consumer.lag import LagTracker
from volstream.consumer.metrics import ConsumerMetrics
from volstream.consumer.pipeline import (
    Decoded,
    IntArray,
    compute_features,
    dead_letter_headers,
    decode,
    encode,
    encode_markers,
    score,
    split,
    take_markers,
)
from volstream.consumer.quality import StreamQuality
from volstream.consumer.rebuild import rebuild
from volstream.errors import BrokerError
from volstream.feature_engine import FeatureEngine
from volstream.kafka.clients import LIBRDKAFKA, KafkaClients
from volstream.kafka.membership import PartitionOwner
from volstream.kafka.outbox import Outbox
from volstream.kafka.sender import SymbolKeys
from volstream.lag import peek_event_times
from volstream.markers import CANARY_HEADER
from volstream.model.inference import ModelInfo, Predictor
from volstream.model.serving import RegistryFollower
from volstream.settings import ConsumerSettings, KafkaSettings

__all__ = ["StreamConsumer"]

log = logging.getLogger(__name__)
IDLE_WAIT_SECONDS: Final = 0.1  # longest wait for a first record: how often a quiet loop turns
# Each batch allocates several objects per tick that reference counting frees; the cyclic
# collector scanning them at its default thresholds costs time on every tick for nothing.
GC_THRESHOLDS: Final = (200_000, 20, 20)
STATUS_EVERY_SECONDS: Final = 30.0
FIRST_SYMBOLS: Final = 16  # a partition's engine starts this wide and doubles as symbols arrive
PEEK_TIMEOUT_SECONDS: Final = 1.0  # a lag refresh waits this long for a stuck partition's next tick


def last_of_each_partition(partitions: IntArray) -> dict[int, int]:
    """Index of the last message of each partition in the batch (offsets rise within one)."""
    reversed_first = np.unique(partitions[::-1], return_index=True)
    return {int(p): len(partitions) - 1 - int(i) for p, i in zip(*reversed_first, strict=True)}


@dataclass
class _InFlight:
    """A batch sent but not yet acknowledged."""

    messages: list[Message]
    decoded: Decoded
    probabilities: npt.NDArray[np.float64]
    model: ModelInfo
    seconds: dict[str, float]
    flagged: dict[str, int]


class StreamConsumer(PartitionOwner):
    """A consumer-group member running the batch loop."""

    def __init__(
        self,
        kafka: KafkaSettings,
        settings: ConsumerSettings,
        follower: RegistryFollower,
        predictor: Predictor,
        metrics: ConsumerMetrics,
        tracker: LagTracker,
        clients: KafkaClients = LIBRDKAFKA,
    ) -> None:
        self.kafka, self.settings = kafka, settings
        self.follower, self.metrics, self.tracker = follower, metrics, tracker
        self.predictor = predictor
        self._show_model()
        self.topic = kafka.ticks_topic
        membership = {"group.instance.id": settings.instance_id} if settings.instance_id else {}
        self.consumer: Consumer = clients.consumer(
            kafka, settings.group,
            required={"enable.partition.eof": settings.stop_at_end, "on_commit": self._on_commit,
                      **membership},
        )  # fmt: skip
        self.reader = clients.reader(kafka, "consume")  # no group: rebuilds, peeks and watermarks
        self.outbox = Outbox(kafka, clients)
        self.engines: dict[int, FeatureEngine] = {}
        self.at_end: set[int] = set()
        self.consumed = self.predicted = self.rejected = 0  # settled: acknowledged and committed
        self.taken = 0  # handed out by consume(), settled or not
        self._positions_at_refresh: dict[int, int] = {}
        self._reached: dict[int, int] = {}  # partition -> position when this member last had it
        self._in_flight: _InFlight | None = None
        self._keys = SymbolKeys()
        self.first_batch_at: float | None = None  # perf_counter of the first poll that had data
        self.last_settled_at: float | None = None
        self._paused = threading.Event()
        self._applied_pause = False
        self.quality = StreamQuality(int(settings.late_after_seconds * 1000))
        self._silent: dict[int, set[str]] = {}  # partition -> its stale symbols

    # The loop -------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        self.consumer.subscribe(
            [self.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        static = f", static member {self.settings.instance_id}" if self.settings.instance_id else ""
        log.info("consuming %s as group %s%s", self.topic, self.settings.group, static)
        gc.freeze()  # what start-up allocated is never garbage: keep it out of every collection
        gc.set_threshold(*GC_THRESHOLDS)
        next_refresh, next_status = 0.0, time.monotonic()
        while not stop.is_set() and not self._limit_reached():
            self.tracker.turn()
            self._apply_pause()
            self._follow_registry()
            started = time.perf_counter()
            polled = split(self._poll())
            poll_seconds = time.perf_counter() - started
            for error in polled.errors:
                log.warning("consumer: %s", error.str())
            self.at_end -= {m.partition() for m in polled.messages}
            self.at_end |= polled.at_end
            if polled.messages:
                self.first_batch_at = self.first_batch_at or started
                self._process(polled.messages, poll_seconds)
            else:
                self.settle()
            now = time.monotonic()
            if now >= next_refresh:
                self._refresh_lag()
                self._find_stale_symbols()
                next_refresh = now + self.settings.lag_refresh_seconds
            if now >= next_status:
                self._log_status()
                next_status = now + STATUS_EVERY_SECONDS
            if self.settings.stop_at_end and self.engines and self.at_end >= self.engines.keys():
                self.settle()
                log.info("every assigned partition is caught up; stopping")
                break
        self.settle()

    def _poll(self) -> list[Message]:
        """Block until the first record (at most the idle wait), then fill the batch briefly.

        One ``consume(n, timeout)`` returns only when n records are there or the
        timeout ends: a long timeout would hold the first record back on a quiet
        topic, a short one would spin. Waiting for one, then up to
        ``batch_wait_ms`` for the rest, keeps both latency and idle CPU low, and a
        backlog still fills whole batches at once.
        """
        first = self.consumer.consume(1, timeout=IDLE_WAIT_SECONDS)
        if not first:
            return first
        limit = self._batch_limit() - len(first)
        if limit <= 0:
            return first
        rest = self.consumer.consume(limit, timeout=self.settings.batch_wait_ms / 1000)
        # A rebalance inside the second consume may have revoked the first record's
        # partition: its records are the new owner's, from the committed offset.
        return [m for m in first if m.partition() in self.engines or m.partition() is None] + rest

    def _follow_registry(self) -> None:
        """Swap in what the registry now asks for, between two batches (each batch one model)."""
        predictor = self.follower.poll(self.predictor)
        if predictor is not None:
            self.predictor = predictor
            self.metrics.model.reloads.labels("loaded").inc()
            self._show_model()

    def _show_model(self) -> None:
        info = self.predictor.info
        self.metrics.model.show(info)
        self.metrics.probability.labels(info.version)

    @property
    def busy_seconds(self) -> float:
        """From the first poll that returned data to the last batch settled."""
        if self.first_batch_at is None or self.last_settled_at is None:
            return 0.0
        return self.last_settled_at - self.first_batch_at

    def pause(self) -> None:
        """Stop fetching (from any thread); offsets, lag and metrics stay live."""
        self._paused.set()

    def resume(self) -> None:
        """Fetch again after :meth:`pause`."""
        self._paused.clear()

    def _apply_pause(self) -> None:
        wanted = self._paused.is_set()
        if wanted == self._applied_pause:
            return
        assignment = self.consumer.assignment()
        if wanted:
            self.settle()
            self.consumer.pause(assignment)
        else:
            self.consumer.resume(assignment)
        self._applied_pause = wanted
        log.info("consumption %s", "paused" if wanted else "resumed")

    def _batch_limit(self) -> int:
        if self.settings.max_messages is None:
            return self.settings.batch_size
        return max(min(self.settings.batch_size, self.settings.max_messages - self.taken), 1)

    def _limit_reached(self) -> bool:
        return self.settings.max_messages is not None and self.taken >= self.settings.max_messages

    def _process(self, messages: list[Message], poll_seconds: float) -> None:
        """decode → features → inference → encode; then settle the previous batch; then send.

        Under load (full batches) the broker acknowledges batch k while batch k + 1 is
        computed: the two overlap on two cores. A batch that did not fill is settled at
        once, since then latency matters more. Either way a batch is committed only
        once all of it is acknowledged.
        """
        self.taken += len(messages)
        clock = time.perf_counter
        seconds = {"poll": poll_seconds}
        t = clock()
        now_ms = int(time.time() * 1000)
        decoded = decode(messages, now_ms, self.settings.max_message_bytes,
                         int(self.settings.future_tolerance_seconds * 1000))  # fmt: skip
        decoded, markers = take_markers(decoded)
        seconds["decode"], t = clock() - t, clock()
        features, flags = compute_features(self.engines, decoded.ticks, decoded.partitions)
        flagged = self.quality.count(decoded.ticks, decoded.partitions, flags)
        seconds["features"], t = clock() - t, clock()
        predictor = self.predictor
        probabilities, marker_probabilities = score(predictor, features, markers)
        seconds["inference"], t = clock() - t, clock()
        values = encode(decoded, features, probabilities, predictor.info, now_ms)
        echoes = [] if markers is None else encode_markers(markers, marker_probabilities,
                                                           predictor.info, now_ms)  # fmt: skip
        seconds["encode"] = clock() - t
        self.settle()
        t = clock()
        self._send(messages, decoded, values)
        self._send_echoes(echoes, now_ms)
        seconds["publish"] = clock() - t
        self._in_flight = _InFlight(messages, decoded, probabilities, predictor.info, seconds,
                                    flagged)  # fmt: skip
        if len(messages) < self._batch_limit():  # not under load: latency first, settle now
            self.settle()

    def _send(self, messages: list[Message], decoded: Decoded, values: list[bytes]) -> None:
        ticks = decoded.ticks
        keys = self._keys.of(ticks.symbol)
        self.outbox.send_many(
            self.kafka.predictions_topic, values, keys, ticks.event_time_ms.tolist()
        )
        for reject in ticks.rejects:
            message = messages[reject.index]
            headers = dead_letter_headers(reject, self.topic, message)
            self.outbox.send(
                self.kafka.dlq_topic, message.value() or b"", message.key(),
                message.timestamp()[1], headers,
            )  # fmt: skip

    def _send_echoes(self, echoes: list[bytes], processed_ms: int) -> None:
        """Marker echoes to the canary topic: no reader of predictions sees a marker."""
        for echo in echoes:
            self.outbox.send(self.kafka.canary_topic, echo, None, processed_ms,
                             [(CANARY_HEADER, b"1")])  # fmt: skip

    def settle(self) -> None:
        """Wait for the batch in flight to be acknowledged, commit it and record it."""
        batch, self._in_flight = self._in_flight, None
        if batch is None:
            self.outbox.serve()
            return
        clock = time.perf_counter
        t = clock()
        acked_at = self.outbox.flush()
        batch.seconds["publish"] += clock() - t
        t = clock()
        last = last_of_each_partition(batch.decoded.all_partitions)
        self._commit({p: int(batch.decoded.all_offsets[i]) for p, i in last.items()})
        batch.seconds["commit"], t = clock() - t, clock()
        self._record(batch, last, acked_at)
        batch.seconds["metrics"] = clock() - t
        for stage, value in batch.seconds.items():
            self.metrics.stage_seconds.observe_repeated(value, 1, stage)
        self.last_settled_at = clock()

    def _commit(self, last_offsets: dict[int, int]) -> None:
        """Commit past the last offset of each partition in the batch (asynchronously)."""
        self.consumer.commit(
            offsets=[TopicPartition(self.topic, p, o + 1) for p, o in last_offsets.items()],
            asynchronous=True,
        )

    def _record(self, batch: _InFlight, last: dict[int, int], acked_at: float) -> None:
        messages, decoded, metrics = batch.messages, batch.decoded, self.metrics
        ticks = decoded.ticks
        self.consumed += len(messages)
        self.predicted += len(ticks)
        self.rejected += len(ticks.rejects)
        metrics.consumed.labels(self.topic).inc(len(messages))
        metrics.predicted.labels(self.kafka.predictions_topic).inc(len(ticks))
        for reject in ticks.rejects:
            metrics.rejected.labels(reject.reason).inc()
        for reason, count in batch.flagged.items():
            if count:
                metrics.flagged.labels(reason).inc(count)
        metrics.batches.inc()
        metrics.batch_ticks.observe_repeated(len(messages), 1)
        metrics.end_to_end.observe_many(acked_at - ticks.event_time_ms / 1000)
        metrics.probability.observe_many(batch.probabilities, batch.model.version)
        self.tracker.processed(
            {p: int(decoded.all_offsets[i]) for p, i in last.items()},
            {p: messages[i].timestamp()[1] for p, i in last.items()},
            len(messages),
        )

    # Offsets and lag ------------------------------------------------------------------------

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if error is not None:
            self.metrics.commit_failures.inc()
            log.warning("offset commit failed: %s", error.str())
            return
        done = {tp.partition: tp.offset for tp in partitions if tp.error is None and tp.offset >= 0}
        self.metrics.commits.inc()
        self.tracker.committed(done)

    def _refresh_lag(self) -> None:
        """Read watermarks and take a lag sample for every owned partition."""
        try:
            highs = {p: self._high_watermark(p) for p in self.engines}
        except KafkaException as e:
            log.warning("cannot read watermarks: %s", e)
            return
        stale = {
            (self.topic, p): position
            for p, position in self.tracker.stale_positions().items()
            if self._positions_at_refresh.get(p) == position  # not moving: look at what waits
        }
        peeked = peek_event_times(self.reader, stale, timeout=PEEK_TIMEOUT_SECONDS) if stale else {}
        self.tracker.watermarks(highs, {p: ms for (_, p), ms in peeked.items()})
        self._positions_at_refresh = {p: s.position for p, s in self.tracker.partitions.items()}

    def _find_stale_symbols(self) -> None:
        """Symbols silent by their partition's event time: a gauge, and one line per change."""
        silent_ms = int(self.settings.stale_after_seconds * 1000)
        for p, engine in self.engines.items():
            now = set(engine.silent_symbols(silent_ms))
            before = self._silent.get(p, set())
            for symbol in sorted(now - before):
                log.warning("symbol %s has not ticked for %g s while partition %d ticks",
                            symbol, self.settings.stale_after_seconds, p)  # fmt: skip
            for symbol in sorted(before - now):
                log.info("symbol %s ticks again", symbol)
            self._silent[p] = now
            self.metrics.stale_symbols.labels(str(p)).set(len(now))

    def _high_watermark(self, partition: int) -> int:
        """From the last fetch response while fetching (free); asked of the broker otherwise."""
        tp = TopicPartition(self.topic, partition)
        if not self._applied_pause:
            high = int(self.consumer.get_watermark_offsets(tp, cached=True)[1])
            if high >= 0:
                return high
        return int(self.reader.get_watermark_offsets(tp, timeout=self.kafka.timeout_seconds)[1])

    def _log_status(self) -> None:
        with self.tracker.lock:
            lag = sum(s.lag() for s in self.tracker.partitions.values())
        log.info("consumed %d ticks, %.0f ticks/s, %d partitions, lag %d records",
                 self.consumed, self.tracker.rate(), len(self.engines), lag)  # fmt: skip

    # Rebalancing ----------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if not partitions:  # a cooperative rebalance that gave this member nothing new
            return
        committed = {
            tp.partition: (tp.offset if tp.offset != OFFSET_INVALID else -1)
            for tp in consumer.committed(partitions, timeout=self.kafka.timeout_seconds)
        }
        committed.update(self._start_lost_partitions_over(committed))
        for p, offset in committed.items():
            engine = FeatureEngine(symbols=FIRST_SYMBOLS, jump_sigmas=self.settings.jump_sigmas)
            if self.settings.rebuild and offset > 0:
                self.metrics.rebuilt.inc(rebuild(self.reader, self.topic, p, offset, engine))
            self.engines[p] = engine
        self.tracker.assign(committed, committed)
        self.metrics.rebalances.labels("assign").inc()
        self.metrics.assigned.labels(self.settings.group).set(len(self.engines))
        log.info("assigned partitions %s", sorted(committed))

    def _start_lost_partitions_over(self, committed: dict[int, int]) -> dict[int, int]:
        """Partitions whose committed offset is gone though this member had processed them: the
        broker lost the group (restarted empty). They start from the log's start, as a new
        group does (auto.offset.reset); -1: nothing to rebuild. (Offsets kept but beyond a
        re-created log end need nothing: the rebuild finds no record before them, and the
        client resets to the start. High watermarks cannot tell: Tansu's are per batch.)"""
        lost = sorted(p for p, offset in committed.items() if offset < 0 < self._reached.get(p, -1))
        if lost:
            log.warning("partitions %s of %s: the broker lost this group's offsets (restarted "
                        "empty?); reading each from the start of its log, though this consumer "
                        "had reached offset %d of partition %d", lost, self.topic,
                        self._reached[lost[0]], lost[0])  # fmt: skip
        return dict.fromkeys(lost, -1)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = [tp.partition for tp in partitions]
        self.settle()
        self._commit_positions(revoked)
        self._drop(revoked)
        self.metrics.rebalances.labels("revoke").inc()
        log.info("revoked partitions %s", sorted(revoked))

    def _drop(self, partitions: list[int]) -> None:
        with self.tracker.lock:
            self._reached.update({p: s.position for p, s in self.tracker.partitions.items()
                                  if p in partitions})  # fmt: skip
        for p in partitions:
            self.engines.pop(p, None)
            self.at_end.discard(p)
            if self._silent.pop(p, None) is not None:
                self.metrics.stale_symbols.remove(str(p))
        self.quality.forget(partitions)
        self.tracker.revoke(partitions)
        self.metrics.assigned.labels(self.settings.group).set(len(self.engines))

    def _commit_positions(self, partitions: list[int]) -> None:
        """Synchronously commit what was processed (before giving partitions up or exiting)."""
        with self.tracker.lock:
            offsets = [
                TopicPartition(self.topic, p, s.position)
                for p, s in self.tracker.partitions.items()
                if p in partitions and s.position > max(s.committed, 0)
            ]
        if not offsets:
            return
        try:
            done = self.consumer.commit(offsets=offsets, asynchronous=False)
            self.tracker.committed({tp.partition: tp.offset for tp in done if tp.error is None})
            self.metrics.commits.inc()
        except KafkaException as e:
            self.metrics.commit_failures.inc()
            log.warning("final commit failed: %s", e)

    def close(self) -> None:
        """Flush, commit what is done, leave the group."""
        try:
            self.settle()
            self._commit_positions(list(self.engines))
        except BrokerError as e:
            log.error("not committing the last batch: %s", e)
        self.consumer.close()
        self.reader.close()
        self.outbox.close()
