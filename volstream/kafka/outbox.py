"""Publishing records in batches, and waiting for the broker to take them all.

:func:`produce_all` is the one way records are queued: it waits for room when the
client's queue is full. :class:`SymbolKeys` encodes each symbol's message key once.
The :class:`Outbox` (the consumer's predictions and dead letters, the evaluator's
outcomes) and the producer's ``TickPublisher`` send through them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Final

from confluent_kafka import KafkaError, Message, Producer

from volstream.errors import BrokerError
from volstream.kafka.clients import LIBRDKAFKA, KafkaClients
from volstream.settings import KafkaSettings

__all__ = ["ANY_PARTITION", "Headers", "Outbox", "SymbolKeys", "produce_all", "produce_one"]

log = logging.getLogger(__name__)
FLUSH_TIMEOUT_SECONDS: Final = 30.0
ANY_PARTITION: Final = -1  # let the partitioner choose: by key
ROOM_WAIT_SECONDS: Final = 0.05  # a full queue: serve delivery reports this long, then retry
Headers = list[tuple[str, str | bytes | None]]


class SymbolKeys:
    """Message keys (the symbol's UTF-8 bytes), encoded once per symbol."""

    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}

    def of(self, symbols: Iterable[str]) -> list[bytes]:
        keys = self._keys
        return [keys.get(s) or self._add(s) for s in symbols]

    def _add(self, symbol: str) -> bytes:
        self._keys[symbol] = symbol.encode()
        return self._keys[symbol]


def produce_all(
    producer: Producer,
    topic: str,
    values: list[bytes],
    keys: list[bytes],
    timestamps: list[int],
    partition: int = ANY_PARTITION,
    serve: Callable[[float], object] | None = None,
) -> None:
    """Queue records in order (to ``partition``, or by key), waiting for room when full.

    ``serve(seconds)`` serves delivery reports while the queue is full (the
    producer's ``poll`` unless given).
    """
    produce = producer.produce
    for value, key, timestamp in zip(values, keys, timestamps, strict=True):
        try:
            # Positional (partition, callback, on_delivery, timestamp, as cimpl.pyi orders
            # them): a keyword argument is parsed on every call (docs/benchmarks.md).
            # None callbacks keep the producer's own on_delivery.
            produce(topic, value, key, partition, None, None, timestamp)
        except BufferError:
            produce_one(producer, topic, value, key, timestamp, None, partition, serve)


def produce_one(
    producer: Producer,
    topic: str,
    value: bytes,
    key: bytes | None,
    timestamp: int,
    headers: Headers | None = None,
    partition: int = ANY_PARTITION,
    serve: Callable[[float], object] | None = None,
) -> None:
    """Queue one record, serving delivery reports while the client's queue is full."""
    serve = serve or producer.poll
    while True:
        try:
            producer.produce(topic, value, key, partition, timestamp=timestamp, headers=headers)
            return
        except BufferError:
            serve(ROOM_WAIT_SECONDS)


class Outbox:
    """Everything a batch sends; ``flush`` returns only when the broker acknowledged all of it."""

    def __init__(self, kafka: KafkaSettings, clients: KafkaClients = LIBRDKAFKA) -> None:
        # Watched: its owner calls flush or serve on every turn of its loop.
        self._producer = clients.producer(kafka, self._on_failure, watch=True)
        self._failures: list[str] = []

    def serve(self) -> None:
        """Serve the client's reports without waiting (a loop's turn with nothing to send)."""
        self._producer.poll(0)

    def send(
        self, topic: str, value: bytes, key: bytes | None, timestamp: int, headers: Headers
    ) -> None:
        """Queue one record with headers (a dead letter)."""
        produce_one(self._producer, topic, value, key, timestamp, headers)

    def send_many(
        self,
        topic: str,
        values: list[bytes],
        keys: list[bytes],
        timestamps: list[int],
        partition: int = ANY_PARTITION,
    ) -> None:
        """Queue records with keys and timestamps, in order (to ``partition``, or by key)."""
        produce_all(self._producer, topic, values, keys, timestamps, partition)

    def flush(self) -> float:
        """Wait for every queued record to be acknowledged; returns when (wall time).

        Raises :class:`BrokerError` if any record was refused or not acknowledged.
        """
        left = self._producer.flush(FLUSH_TIMEOUT_SECONDS)
        if left:
            msg = f"{left} records were not acknowledged within {FLUSH_TIMEOUT_SECONDS:g} s"
            raise BrokerError(msg)
        if self._failures:
            failures, self._failures = self._failures, []
            msg = f"the broker refused {len(failures)} records: {failures[0]}"
            raise BrokerError(msg)
        return time.time()

    def close(self) -> None:
        self._producer.flush(FLUSH_TIMEOUT_SECONDS)
        self._producer.close()

    def _on_failure(self, error: KafkaError, message: Message) -> None:
        self._failures.append(f"{message.topic()}: {error.str()}")
