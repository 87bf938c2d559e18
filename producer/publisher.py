"""Publishing tick batches to Kafka with an idempotent producer and delivery tracking."""

from __future__ import annotations

import logging
import time
from collections import deque

from confluent_kafka import KafkaError, KafkaException, Message

from volstream.errors import BrokerError
from volstream.kafka.clients import LIBRDKAFKA, KafkaClients
from volstream.kafka.sender import Sender, SymbolKeys
from volstream.producer.metrics import ProducerMetrics
from volstream.settings import KafkaSettings
from volstream.ticks import TickBatch, encode_ticks

__all__ = ["TickPublisher"]

log = logging.getLogger(__name__)


class TickPublisher:
    """Sends ticks (key = symbol, timestamp = event time) and counts the broker's answers.

    Successes are tracked per batch, not per tick: librdkafka reports only
    failures (a Python callback per tick would cost a fifth of the throughput),
    and a batch counts as acknowledged once the client's queue has drained past
    it. Its produce latency is the time from queuing it to that moment,
    observed once for each of its ticks.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        metrics: ProducerMetrics,
        clients: KafkaClients = LIBRDKAFKA,
    ) -> None:
        self.topic = topic
        self.acked = 0
        self.failed = 0
        self._metrics = metrics
        self._queued = 0
        self._in_flight: deque[tuple[int, float, int]] = deque()  # (queued after, at, size)
        self._keys = SymbolKeys()
        self._sender = Sender(kafka, self._on_failure, clients)
        self._check_topic(kafka.timeout_seconds)

    def _check_topic(self, timeout: float) -> None:
        """Fail at start-up if the topic is missing; it also primes the partition metadata."""
        try:
            topic = self._sender.client.list_topics(self.topic, timeout=timeout).topics[self.topic]
        except KafkaException as e:
            msg = f"cannot read metadata of topic {self.topic}: {e}"
            raise BrokerError(msg) from e
        if topic.error is not None or not topic.partitions:
            reason = topic.error.str() if topic.error else "no partitions"
            msg = (
                f"topic {self.topic} is not usable ({reason}); "
                "create it with `volstream topics create`"
            )
            raise BrokerError(msg)

    def publish(self, batch: TickBatch) -> None:
        """Queue every tick of ``batch``; waits for room when the client's queue is full."""
        values = encode_ticks(batch.to_ticks())
        keys = self._keys.of(batch.symbol)
        timestamps = batch.event_time_ms.tolist()
        self._sender.send_many(self.topic, values, keys, timestamps, serve=self.poll)
        self._queued += len(batch)
        self._in_flight.append((self._queued, time.monotonic(), len(batch)))
        self.poll(0)

    def poll(self, timeout: float) -> None:
        """Serve failure reports and account for what the broker acknowledged."""
        self._sender.poll(timeout)
        self._record_acks()

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for outstanding ticks; returns how many are still unsent."""
        left = self._sender.flush(timeout)
        self._record_acks()
        if left:
            self.failed += left
            self._metrics.failed.labels(self.topic, "not_delivered_at_shutdown").inc(left)
        return left

    def close(self) -> None:
        """Release the client and its connections (flush first)."""
        self._sender.close()

    def _on_failure(self, error: KafkaError, message: Message) -> None:
        self.failed += 1
        self._metrics.failed.labels(self.topic, error.name()).inc()
        if self.failed == 1:
            log.error("the broker did not take a tick: %s", error.str())

    def _record_acks(self) -> None:
        finished = self._queued - len(self._sender)  # acked or failed
        acked = max(finished - self.failed, self.acked)
        if acked > self.acked:
            self._metrics.ticks.labels(self.topic).inc(acked - self.acked)
            self.acked = acked
        now = time.monotonic()
        while self._in_flight and self._in_flight[0][0] <= finished:
            _, queued_at, size = self._in_flight.popleft()
            self._metrics.produce_latency.observe_repeated(now - queued_at, size, self.topic)
