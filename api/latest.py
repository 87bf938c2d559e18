"""The latest prediction of each symbol, kept by tailing the ``predictions`` topic.

A thread reads the topic without a consumer group (``assign``), starting
``tail_seconds`` back, and keeps the raw value of each key's newest record;
it is decoded only when someone asks for that symbol. The same thread asks the
broker for metadata every ``broker_check_seconds``: that answer is readiness.
"""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import OFFSET_END, Consumer, KafkaException, TopicPartition

from volstream.kafka.clients import make_consumer
from volstream.settings import KafkaSettings

__all__ = ["LatestPredictions"]

log = logging.getLogger(__name__)
# A served prediction may lag the stream by up to this much. Tansu holds every fetch this
# long and lists each batch the partition stores to answer it: fetching the tail as often as
# the consumer does would cost the embedded broker CPU the pipeline needs.
TAIL_FETCH_WAIT_MS = 500


class LatestPredictions:
    """Newest ``predictions`` record per symbol, and whether the broker answers."""

    def __init__(self, kafka: KafkaSettings, tail_seconds: float, check_seconds: float) -> None:
        self._kafka = kafka
        self._tail_seconds = tail_seconds
        self._check_seconds = check_seconds
        self._latest: dict[bytes, bytes] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="predictions-tail", daemon=True)
        self.broker_problem: str | None = "the broker has not been asked yet"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def get(self, symbol: str) -> bytes | None:
        """The newest prediction document for ``symbol``, or None."""
        return self._latest.get(symbol.encode())

    def _run(self) -> None:
        consumer = make_consumer(  # assigns; never joins
            self._kafka, "volstream-api-tail", tuning={"fetch.wait.max.ms": TAIL_FETCH_WAIT_MS}
        )
        try:
            assigned = False
            next_check = 0.0
            while not self._stop.is_set():
                if time.monotonic() >= next_check:
                    assigned = self._check_broker(consumer, assigned)
                    next_check = time.monotonic() + self._check_seconds
                if not assigned:
                    consumer.poll(0.2)  # serves the client's log and error callbacks
                    continue
                for message in consumer.consume(1000, timeout=0.2):
                    key, value = message.key(), message.value()
                    if message.error() is None and key is not None and value is not None:
                        self._latest[key] = value
        finally:
            consumer.close()

    def _check_broker(self, consumer: Consumer, assigned: bool) -> bool:
        """Ask for the topic's metadata; assign its partitions the first time it exists."""
        topic = self._kafka.predictions_topic
        try:
            metadata = consumer.list_topics(topic, timeout=self._check_seconds)
        except KafkaException as e:
            self._set_problem(f"the broker did not answer: {e.args[0].str()}")
            return assigned
        partitions = metadata.topics[topic].partitions
        if not partitions:
            self._set_problem(None)
            return False
        self._set_problem(None)
        if not assigned:
            consumer.assign(self._tail_start(consumer, sorted(partitions)))
            log.info("tailing %s (%d partitions) from %.0f s back",
                     topic, len(partitions), self._tail_seconds)  # fmt: skip
        return True

    def _tail_start(self, consumer: Consumer, partitions: list[int]) -> list[TopicPartition]:
        since_ms = int((time.time() - self._tail_seconds) * 1000)
        topic = self._kafka.predictions_topic
        wanted = [TopicPartition(topic, p, since_ms) for p in partitions]
        found = consumer.offsets_for_times(wanted, timeout=self._kafka.timeout_seconds)
        return [TopicPartition(topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_END)
                for tp in found]  # fmt: skip

    def _set_problem(self, problem: str | None) -> None:
        if problem != self.broker_problem:
            if problem:
                log.warning("readiness: %s", problem)
            elif self.broker_problem:
                log.info("readiness: the broker answers")
        self.broker_problem = problem
