"""``volstream canary``: one marker per ticks partition every few seconds, echoes read back.

The canary sends and reads in one process, so a round trip is measured on one
clock. It reads the canary topic from its end with no consumer group, and keeps
only the echoes of its own run: a restarted canary does not count its
predecessor's markers. It counts markers lost only once the pipeline has
echoed one: a stack that is starting is not an outage (a consumer that never
starts is ``ConsumerDown`` and ``NoPredictions``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Final

import msgspec
from confluent_kafka import OFFSET_END, KafkaError, KafkaException, Message, TopicPartition
from prometheus_client import CollectorRegistry

from volstream.canary.metrics import CanaryMetrics, build_metrics
from volstream.errors import BrokerError
from volstream.kafka.clients import LIBRDKAFKA, PARTITION_EOF, KafkaClients
from volstream.kafka.sender import Sender
from volstream.markers import CANARY_HEADER, CANARY_SYMBOL, decode_echo, marker_tick
from volstream.metrics import serve_metrics
from volstream.settings import CanarySettings, KafkaSettings
from volstream.ticks import encode_tick

__all__ = ["Canary", "run"]

log = logging.getLogger(__name__)
READ_BATCH: Final = 100
LONGEST_WAIT_SECONDS: Final = 0.2  # how long one read may block: the loop's grain
METADATA_EVERY_SECONDS: Final = 60.0  # partitions added to the ticks topic get markers


@dataclass(frozen=True)
class Pending:
    """A marker sent and not yet back."""

    partition: int
    sent_at: float  # time.monotonic()


class Canary:
    """Sends markers and matches their echoes; ``turn`` does one step of the loop."""

    def __init__(
        self,
        kafka: KafkaSettings,
        settings: CanarySettings,
        metrics: CanaryMetrics,
        clients: KafkaClients = LIBRDKAFKA,
    ) -> None:
        self.kafka, self.settings, self.metrics = kafka, settings, metrics
        self.run_id = int(time.time() * 1000)
        self.pending: dict[int, Pending] = {}  # marker number -> where and when it was sent
        self.partitions: list[int] = []
        self._losing: set[int] = set()  # partitions whose last marker was lost
        self.sent = self.received = self.lost = 0
        self.armed = False  # an echo came back: from now on, overdue markers are lost
        self._number = 0
        self._sender = Sender(kafka, self._on_failure, clients)
        self._reader = clients.reader(kafka, "canary")
        self._next_beat = self._next_metadata = time.monotonic()

    def start(self) -> None:
        """Read the canary topic from its end, and learn the ticks topic's partitions."""
        echoes = self._partitions_of(self.kafka.canary_topic)
        self._reader.assign([TopicPartition(self.kafka.canary_topic, p, OFFSET_END)
                             for p in echoes])  # fmt: skip
        self._refresh_partitions()
        log.info("canary run %d: a marker to each of %d partitions of %s every %g s, "
                 "lost after %g s", self.run_id, len(self.partitions), self.kafka.ticks_topic,
                 self.settings.interval_seconds, self.settings.deadline_seconds)  # fmt: skip

    def turn(self) -> None:
        """Send the markers that are due, read echoes for a moment, expire the overdue."""
        now = time.monotonic()
        if now >= self._next_metadata:
            self._refresh_partitions()
        if now >= self._next_beat:
            self._beat(now)
            self._next_beat = max(self._next_beat + self.settings.interval_seconds, now)
        self._sender.poll(0)
        wait = min(LONGEST_WAIT_SECONDS, max(self._next_beat - time.monotonic(), 0.0))
        self._read(self._reader.consume(READ_BATCH, timeout=wait))
        self._expire(time.monotonic())

    def line(self) -> str:
        """One line for people."""
        return (f"sent={self.sent} received={self.received} lost={self.lost} "
                f"pending={len(self.pending)}")  # fmt: skip

    def close(self) -> None:
        """Flush what is queued and release the clients."""
        self._sender.flush(self.kafka.timeout_seconds)
        self._sender.close()
        self._reader.close()

    def _beat(self, now: float) -> None:
        sent_ms = int(time.time() * 1000)
        for partition in self.partitions:
            self._number += 1
            value = encode_tick(marker_tick(self.run_id, self._number, sent_ms))
            self._sender.send(self.kafka.ticks_topic, value, CANARY_SYMBOL.encode(), sent_ms,
                              [(CANARY_HEADER, b"1")], partition)  # fmt: skip
            self.pending[self._number] = Pending(partition, now)
            self.metrics.sent.labels(str(partition)).inc()
            self.sent += 1

    def _read(self, messages: list[Message]) -> None:
        now_ms = time.time() * 1000
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != PARTITION_EOF:
                    log.warning("canary topic: %s", error.str())
                continue
            try:
                echo = decode_echo(message.value() or b"")
            except msgspec.DecodeError as e:
                log.warning("canary topic: not an echo at offset %s: %s", message.offset(), e)
                continue
            if echo.run != self.run_id:
                continue
            partition = str(echo.source_partition)
            self.metrics.roundtrip.labels(partition).observe(max(now_ms - echo.sent_ms, 0) / 1000)
            if self.pending.pop(echo.marker, None) is None:
                continue  # counted lost already
            if not self.armed:
                self.armed = True
                log.info("canary: the first marker is back after %.3f s; counting lost "
                         "markers from now", (now_ms - echo.sent_ms) / 1000)  # fmt: skip
            self.metrics.received.labels(partition).inc()
            self.received += 1
            if echo.source_partition in self._losing:
                self._losing.discard(echo.source_partition)
                log.info("canary: markers to partition %d are back", echo.source_partition)

    def _expire(self, now: float) -> None:
        """Count the overdue as lost; set each partition's oldest wait."""
        oldest = dict.fromkeys(self.partitions, 0.0)
        for number, marker in list(self.pending.items()):
            age = now - marker.sent_at
            if age > self.settings.deadline_seconds:
                del self.pending[number]
                if not self.armed:
                    continue  # the pipeline has not answered yet: starting, not failing
                self.metrics.lost.labels(str(marker.partition)).inc()
                self.lost += 1
                if marker.partition not in self._losing:
                    self._losing.add(marker.partition)
                    log.warning("canary: a marker to partition %d is not back after %g s",
                                marker.partition, self.settings.deadline_seconds)  # fmt: skip
                continue
            oldest[marker.partition] = max(oldest.get(marker.partition, 0.0), age)
        for partition, age in oldest.items():
            self.metrics.oldest_pending.labels(str(partition)).set(age)

    def _refresh_partitions(self) -> None:
        try:
            partitions = self._partitions_of(self.kafka.ticks_topic)
        except BrokerError as e:
            log.warning("canary: %s; keeping %d partitions", e, len(self.partitions))
            partitions = self.partitions
        for partition in sorted(set(partitions) - set(self.partitions)):
            self.metrics.add_partition(partition)
        self.partitions = partitions
        self._next_metadata = time.monotonic() + METADATA_EVERY_SECONDS

    def _partitions_of(self, topic: str) -> list[int]:
        try:
            metadata = self._reader.list_topics(topic, timeout=self.kafka.timeout_seconds)
            found = metadata.topics[topic]
        except KafkaException as e:
            msg = f"cannot read metadata of topic {topic}: {e}"
            raise BrokerError(msg) from e
        if found.error is not None or not found.partitions:
            msg = f"topic {topic} is not usable; create it with `volstream topics create`"
            raise BrokerError(msg)
        return sorted(found.partitions)

    def _on_failure(self, error: KafkaError, message: Message) -> None:
        log.warning("canary: the broker did not take a marker: %s", error.str())


def run(
    kafka: KafkaSettings,
    settings: CanarySettings,
    stop: threading.Event,
    registry: CollectorRegistry | None = None,
) -> Canary:
    """Run the canary until ``stop``; returns it (its counts, for tests and the summary)."""
    registry = registry or CollectorRegistry()
    metrics = build_metrics(registry)
    with serve_metrics(registry, settings.metrics_port, "canary"):
        canary = Canary(kafka, settings, metrics)
        try:
            canary.start()
            while not stop.is_set():
                canary.turn()
        finally:
            canary.close()
    log.info("canary finished: %s", canary.line())
    return canary
