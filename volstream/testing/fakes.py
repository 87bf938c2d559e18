"""In-memory fakes of Kafka: a broker, and the consumer and producer the services use.

They keep what the pipeline relies on and nothing more: records of a partition in
offset order from 0, one partition per key, committed offsets per group, delivery
only when the producer is polled or flushed, callbacks (``on_assign``,
``on_revoke``, ``on_commit``) served from ``consume`` as librdkafka serves them
from ``poll``. ``FakeBroker.clients()`` hands them to a service in place of
librdkafka's (:class:`~volstream.kafka.clients.KafkaClients`).

What they do not model: replication, transactions, timeouts of a real network,
more than one member of a group (a rebalance is forced by the test).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    OFFSET_INVALID,
    TIMESTAMP_CREATE_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from volstream.kafka.clients import FailureCallback, KafkaClients
from volstream.settings import KafkaSettings

__all__ = ["FakeBroker", "FakeConsumer", "FakeMessage", "FakeProducer"]

Headers = list[tuple[str, bytes | str | None]] | None
IDLE_SECONDS = 0.005  # an empty consume() waits this long, so that a polling loop does not spin


@dataclass(frozen=True)
class FakeMessage:
    """A record as ``Consumer.consume`` returns it (or a partition-EOF event)."""

    _topic: str
    _partition: int
    _offset: int
    _value: bytes | None
    _key: bytes | None
    _timestamp: int
    _headers: Headers = None
    _error: KafkaError | None = None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def timestamp(self) -> tuple[int, int]:
        return TIMESTAMP_CREATE_TIME, self._timestamp

    def headers(self) -> Headers:
        return self._headers

    def error(self) -> KafkaError | None:
        return self._error

    def __len__(self) -> int:
        return len(self._value or b"")


@dataclass
class FakeBroker:
    """Topics and committed offsets in memory; makes fake clients bound to them."""

    topics: dict[str, list[list[FakeMessage]]] = field(default_factory=dict)
    committed: dict[tuple[str, str, int], int] = field(default_factory=dict)
    consumers: list[FakeConsumer] = field(default_factory=list)
    producers: list[FakeProducer] = field(default_factory=list)
    producer_capacity: int = 100_000  # records a producer queues before produce raises

    def create(self, topic: str, partitions: int = 1) -> None:
        self.topics.setdefault(topic, [[] for _ in range(partitions)])

    def create_topics(self, kafka: KafkaSettings) -> KafkaSettings:
        """The topics ``kafka`` names, with their partition counts; returns ``kafka``."""
        for topic, partitions in kafka.topic_partitions().items():
            self.create(topic, partitions)
        return kafka

    def append(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        timestamp: int = 0,
        headers: Headers = None,
        partition: int = -1,
    ) -> FakeMessage:
        """Store one record: to ``partition``, else by key (crc32), else partition 0."""
        partitions = self.topics[topic]
        if partition < 0:
            partition = zlib.crc32(key) % len(partitions) if key is not None else 0
        log = partitions[partition]
        message = FakeMessage(topic, partition, len(log), value, key, timestamp, headers)
        log.append(message)
        return message

    def messages(self, topic: str) -> list[FakeMessage]:
        """Every record of ``topic``, partition by partition, in offset order."""
        return [m for log in self.topics[topic] for m in log]

    def clients(self) -> KafkaClients:
        """Factories of fake clients bound to this broker, for a service's ``clients``."""
        return KafkaClients(consumer=self._consumer, reader=self._reader, producer=self._producer)

    def _consumer(
        self,
        kafka: KafkaSettings,
        group: str,
        *,
        tuning: Mapping[str, Any] | None = None,
        required: Mapping[str, Any] | None = None,
    ) -> Consumer:
        consumer = FakeConsumer(self, group, {**(tuning or {}), **(required or {})})
        self.consumers.append(consumer)
        return cast(Consumer, consumer)

    def _reader(self, kafka: KafkaSettings, purpose: str) -> Consumer:
        return cast(Consumer, FakeConsumer(self, f"reader-{purpose}", {}))

    def _producer(
        self,
        kafka: KafkaSettings,
        on_failure: FailureCallback,
        *,
        on_stats: Callable[[str], None] | None = None,
    ) -> Producer:
        producer = FakeProducer(self, on_failure, self.producer_capacity)
        producer.on_stats = on_stats
        self.producers.append(producer)
        return cast(Producer, producer)


class FakeProducer:
    """Queues records; they reach the broker when it is polled or flushed.

    ``hold`` keeps them queued (a slow broker); ``refuse(n, code)`` makes the next
    ``n`` deliveries fail with ``code``, reported to ``on_failure`` as librdkafka does.
    ``fail_after(n)``: the client fails for good after queuing ``n`` more records (as
    an idempotent producer does on a broker restarted empty): ``produce`` raises a
    fatal error, and what it held is handed back, purged, in its reports.
    """

    def __init__(
        self, broker: FakeBroker, on_failure: FailureCallback | None, capacity: int
    ) -> None:
        self.broker = broker
        self.capacity = capacity
        self.hold = False
        self.produced = 0
        self.full_errors = 0  # BufferErrors raised: how often the queue was full
        self._on_failure = on_failure
        self._queue: list[tuple[str, bytes | None, bytes | None, int, Headers, int]] = []
        self._refusals: list[int] = []
        self._until_fatal: int | None = None
        self.on_stats: Callable[[str], None] | None = None  # a test reports statistics to it

    def fail_after(self, records: int) -> None:
        self._until_fatal = records

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int = -1,
        callback: Callable[..., None] | None = None,
        on_delivery: Callable[..., None] | None = None,
        timestamp: int = 0,
        headers: Headers = None,
    ) -> None:
        if topic not in self.broker.topics:
            msg = f"unknown topic {topic}"
            raise KeyError(msg)
        if self._until_fatal == 0:
            raise KafkaException(KafkaError(KafkaError._FATAL, "fatal error", fatal=True))  # noqa: SLF001
        if len(self._queue) >= self.capacity:
            self.full_errors += 1
            msg = "Local: Queue full"
            raise BufferError(msg)
        self._queue.append((topic, value, key, timestamp, headers, partition))
        self.produced += 1
        if self._until_fatal is not None:
            self._until_fatal -= 1

    def refuse(self, count: int, code: int = KafkaError.MSG_SIZE_TOO_LARGE) -> None:
        self._refusals.extend([code] * count)

    def poll(self, timeout: float | None = None) -> int:
        """Deliver everything queued (nothing while held); returns how many were delivered."""
        if self._until_fatal == 0:
            self.purge()
        if self.hold:
            return 0
        queued, self._queue = self._queue, []
        for topic, value, key, timestamp, headers, partition in queued:
            if self._refusals:
                code = self._refusals.pop(0)
                if self._on_failure is not None:
                    message = FakeMessage(topic, partition, -1, value, key, timestamp, headers)
                    self._on_failure(KafkaError(code), cast(Any, message))
                continue
            self.broker.append(topic, value, key, timestamp, headers, partition)
        return len(queued)

    def purge(self) -> None:
        """Hand back every queued record in a report, as librdkafka's purge does."""
        queued, self._queue = self._queue, []
        for topic, value, key, timestamp, headers, partition in queued:
            message = FakeMessage(topic, partition, -1, value, key, timestamp, headers)
            if self._on_failure is not None:
                self._on_failure(KafkaError(KafkaError._PURGE_QUEUE), cast(Any, message))  # noqa: SLF001

    def flush(self, timeout: float | None = None) -> int:
        """Deliver everything queued; returns how many records are left (all, while held,
        after waiting ``timeout`` s as librdkafka does)."""
        self.poll()
        if self._queue and timeout:
            time.sleep(timeout)
        return len(self._queue)

    def __len__(self) -> int:
        return len(self._queue)

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any:
        return _metadata(self.broker, topic)

    def close(self) -> None:
        pass


class FakeConsumer:
    """A consumer on :class:`FakeBroker`: a group member (``subscribe``) or a reader (``assign``).

    A subscriber gets every partition of its topics on its first ``consume``.
    :meth:`revoke` takes partitions back on the next ``consume``, calling
    ``on_revoke`` first, as a rebalance does.
    """

    def __init__(self, broker: FakeBroker, group: str, config: Mapping[str, Any]) -> None:
        self.broker = broker
        self.group = group
        self.config = dict(config)
        self.closed = False
        self.positions: dict[tuple[str, int], int] = {}
        self.paused: set[tuple[str, int]] = set()
        self._subscription: list[str] = []
        self._callbacks: dict[str, Callable[..., None] | None] = {}
        self._to_assign = False
        self._to_revoke: list[tuple[str | None, int]] = []  # None: the subscribed topic
        self._revoke_after = 0
        self.handed_out = 0  # records consume() returned, partition-EOF events not counted
        self._commits: list[list[TopicPartition]] = []  # answers on_commit has not been given
        self._at_end: set[tuple[str, int]] = set()
        self._to_lose: tuple[int, Callable[[], None]] | None = None

    # Group membership ------------------------------------------------------------------------

    def subscribe(
        self,
        topics: list[str],
        on_assign: Callable[..., None] | None = None,
        on_revoke: Callable[..., None] | None = None,
        on_lost: Callable[..., None] | None = None,
    ) -> None:
        self._subscription = list(topics)
        self._callbacks = {"assign": on_assign, "revoke": on_revoke, "lost": on_lost}
        self._to_assign = True

    def revoke(self, partitions: Sequence[int], after: int = 0, topic: str | None = None) -> None:
        """Once ``after`` records were handed out, on the next ``consume``: call
        ``on_revoke`` with ``partitions``, then stop reading them (a rebalance)."""
        self._to_revoke.extend((topic, p) for p in partitions)
        self._revoke_after = after

    def lose(self, after: int, meanwhile: Callable[[], None]) -> None:
        """Once ``after`` records were handed out: call ``on_lost`` with every partition (the
        session expired), run ``meanwhile`` (a test's broker restart), and assign again."""
        self._to_lose = (after, meanwhile)

    def assign(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            end = len(self.broker.topics[tp.topic][tp.partition])
            offset = {OFFSET_BEGINNING: 0, OFFSET_END: end, OFFSET_INVALID: 0}.get(
                tp.offset, tp.offset
            )
            self.positions[(tp.topic, tp.partition)] = offset

    def unassign(self) -> None:
        self.positions.clear()
        self._at_end.clear()

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in self.positions]

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused |= {(tp.topic, tp.partition) for tp in partitions}

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused -= {(tp.topic, tp.partition) for tp in partitions}

    # Reading ---------------------------------------------------------------------------------

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[FakeMessage]:
        """Up to ``num_messages`` records, shared out among the partitions as fetches are."""
        self._serve_callbacks()
        readable = [tp for tp in sorted(self.positions) if tp not in self.paused]
        share = -(-num_messages // max(len(readable), 1))  # ceiling
        found: list[FakeMessage] = []
        for topic, p in readable:
            room = min(share, num_messages - len(found))
            if room <= 0:
                break
            position = self.positions[(topic, p)]
            log = self.broker.topics[topic][p]
            taken = log[position : position + room]
            found.extend(taken)
            self.handed_out += len(taken)
            self.positions[(topic, p)] = position + len(taken)
            if taken:
                self._at_end.discard((topic, p))
            elif self.config.get("enable.partition.eof") and (topic, p) not in self._at_end:
                self._at_end.add((topic, p))
                error = KafkaError(KafkaError._PARTITION_EOF)  # noqa: SLF001 - librdkafka's name
                found.append(FakeMessage(topic, p, position, None, None, 0, None, error))
        if not found and timeout:
            time.sleep(IDLE_SECONDS if timeout < 0 else min(timeout, IDLE_SECONDS))
        return found

    def _serve_callbacks(self) -> None:
        on_commit = self.config.get("on_commit")
        commits, self._commits = self._commits, []
        for partitions in commits:
            if on_commit is not None:
                on_commit(None, partitions)
        if self._to_revoke and self.handed_out >= self._revoke_after:
            revoked = [TopicPartition(t or self._subscription[0], p) for t, p in self._to_revoke]
            self._to_revoke = []
            if self._callbacks.get("revoke"):
                self._callbacks["revoke"](self, revoked)  # type: ignore[misc]
            for tp in revoked:
                self.positions.pop((tp.topic, tp.partition), None)
        if self._to_lose and self.handed_out >= self._to_lose[0]:
            meanwhile, self._to_lose = self._to_lose[1], None
            lost = [TopicPartition(t, p) for t, p in self.positions]
            self.positions.clear()
            if self._callbacks.get("lost"):
                self._callbacks["lost"](self, lost)  # type: ignore[misc]
            meanwhile()
            self._to_assign = True
        if self._to_assign:
            self._to_assign = False
            partitions = [
                TopicPartition(topic, p, OFFSET_INVALID)
                for topic in self._subscription
                for p in range(len(self.broker.topics[topic]))
            ]
            if self._callbacks.get("assign"):
                self._callbacks["assign"](self, partitions)  # type: ignore[misc]
            committed = {(tp.topic, tp.partition): tp.offset for tp in self.committed(partitions)}
            self.assign([TopicPartition(t, p, max(o, 0)) for (t, p), o in committed.items()])

    # Offsets ---------------------------------------------------------------------------------

    def commit(
        self,
        message: FakeMessage | None = None,
        offsets: list[TopicPartition] | None = None,
        asynchronous: bool = True,
    ) -> list[TopicPartition] | None:
        if message is not None:
            offsets = [TopicPartition(message.topic(), message.partition(), message.offset() + 1)]
        done = [TopicPartition(tp.topic, tp.partition, tp.offset) for tp in offsets or []]
        for tp in done:
            self.broker.committed[(self.group, tp.topic, tp.partition)] = tp.offset
        if asynchronous:
            self._commits.append(done)
            return None
        return done

    def committed(
        self, partitions: list[TopicPartition], timeout: float = -1
    ) -> list[TopicPartition]:
        return [
            TopicPartition(tp.topic, tp.partition,
                           self.broker.committed.get((self.group, tp.topic, tp.partition),
                                                     OFFSET_INVALID))
            for tp in partitions
        ]  # fmt: skip

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float = -1, cached: bool = False
    ) -> tuple[int, int]:
        return 0, len(self.broker.topics[partition.topic][partition.partition])

    def offsets_for_times(
        self, partitions: list[TopicPartition], timeout: float = -1
    ) -> list[TopicPartition]:
        """The first offset at or after each timestamp (``tp.offset``); -1 past the end."""
        found = []
        for tp in partitions:
            log = self.broker.topics[tp.topic][tp.partition]
            first = next((m.offset() for m in log if m.timestamp()[1] >= tp.offset), -1)
            found.append(TopicPartition(tp.topic, tp.partition, first))
        return found

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any:
        return _metadata(self.broker, topic)

    def close(self) -> None:
        self.closed = True


def _metadata(broker: FakeBroker, topic: str | None) -> Any:
    """What ``list_topics`` answers: topics with their partitions, as SimpleNamespaces."""
    names = [topic] if topic is not None else list(broker.topics)
    topics = {
        name: SimpleNamespace(
            topic=name,
            error=None if name in broker.topics else KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART),
            partitions={
                p: SimpleNamespace(id=p, leader=0) for p in range(len(broker.topics.get(name, [])))
            },
        )
        for name in names
    }
    return SimpleNamespace(topics=topics)
