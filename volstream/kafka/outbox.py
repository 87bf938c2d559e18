"""Publishing records in batches, and waiting for the broker to take them all.

The consumer sends predictions and dead letters through it, the evaluator outcomes.
"""

from __future__ import annotations

import logging
import time
from typing import Final

from confluent_kafka import KafkaError, Message

from volstream.errors import BrokerError
from volstream.kafka.clients import make_producer
from volstream.settings import KafkaSettings

__all__ = ["Outbox"]

log = logging.getLogger(__name__)
FLUSH_TIMEOUT_SECONDS: Final = 30.0
ANY_PARTITION: Final = -1  # let the partitioner choose: by key


class Outbox:
    """Everything a batch sends; ``flush`` returns only when the broker acknowledged all of it."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._producer = make_producer(kafka, self._on_failure)
        self._failures: list[str] = []

    def send(self, topic: str, value: bytes, key: bytes | None, timestamp: int,
             headers: list[tuple[str, str | bytes | None]] | None = None,
             partition: int = ANY_PARTITION) -> None:  # fmt: skip
        """Queue one record (serving delivery reports when the queue is full)."""
        while True:
            try:
                self._producer.produce(
                    topic, value, key, partition, timestamp=timestamp, headers=headers
                )
                return
            except BufferError:
                self._producer.poll(0.05)

    def send_many(
        self,
        topic: str,
        values: list[bytes],
        keys: list[bytes],
        timestamps: list[int],
        partition: int = ANY_PARTITION,
    ) -> None:
        """Queue records with keys and timestamps, in order (to ``partition``, or by key)."""
        produce = self._producer.produce
        for value, key, timestamp in zip(values, keys, timestamps, strict=True):
            try:
                # Positional (partition, callback, on_delivery, timestamp, as cimpl.pyi orders
                # them): a keyword argument is parsed on every call (docs/benchmarks.md).
                # None callbacks keep the producer's own on_delivery.
                produce(topic, value, key, partition, None, None, timestamp)
            except BufferError:
                self.send(topic, value, key, timestamp, partition=partition)

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
