"""Everything a batch sends, and waiting for the broker to acknowledge all of it.

The :class:`Outbox` carries the consumer's predictions and dead letters and the
evaluator's outcomes, through a :class:`~volstream.kafka.sender.Sender`.
"""

from __future__ import annotations

import time

from confluent_kafka import KafkaError, Message

from volstream.errors import BrokerError
from volstream.kafka.clients import LIBRDKAFKA, KafkaClients
from volstream.kafka.sender import ANY_PARTITION, Headers, Sender
from volstream.settings import KafkaSettings

__all__ = ["Outbox"]


class Outbox:
    """Everything a batch sends; ``flush`` returns only when the broker acknowledged all of it."""

    def __init__(self, kafka: KafkaSettings, clients: KafkaClients = LIBRDKAFKA) -> None:
        self.ack_timeout = kafka.ack_timeout_seconds
        # Its client is watched: the owner calls flush or serve on every turn of its loop.
        self._sender = Sender(kafka, self._on_failure, clients)
        self._failures: list[str] = []

    def serve(self) -> None:
        """Serve the client's reports without waiting (a loop's turn with nothing to send)."""
        self._sender.poll(0)

    def send(
        self, topic: str, value: bytes, key: bytes | None, timestamp: int, headers: Headers
    ) -> None:
        """Queue one record with headers (a dead letter, a marker echo)."""
        self._sender.send(topic, value, key, timestamp, headers)

    def send_many(
        self,
        topic: str,
        values: list[bytes],
        keys: list[bytes],
        timestamps: list[int],
        partition: int = ANY_PARTITION,
    ) -> None:
        """Queue records with keys and timestamps, in order (to ``partition``, or by key)."""
        self._sender.send_many(topic, values, keys, timestamps, partition)

    def flush(self) -> float:
        """Wait for every queued record to be acknowledged; returns when (wall time).

        Raises :class:`BrokerError` if any record was refused or not acknowledged.
        """
        left = self._sender.flush(self.ack_timeout)
        if left:
            msg = f"{left} records were not acknowledged within {self.ack_timeout:g} s"
            raise BrokerError(msg)
        if self._failures:
            failures, self._failures = self._failures, []
            msg = f"the broker refused {len(failures)} records: {failures[0]}"
            raise BrokerError(msg)
        return time.time()

    def close(self) -> None:
        self._sender.close()

    def _on_failure(self, error: KafkaError, message: Message) -> None:
        self._failures.append(f"{message.topic()}: {error.str()}")
