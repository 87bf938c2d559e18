"""Reading topics back in tests."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from volstream.settings import KafkaSettings


def read_all(
    kafka: KafkaSettings, topic: str, expected: int, timeout: float = 30.0
) -> list[Message]:
    """Every record of ``topic`` from the start, until ``expected`` arrived or ``timeout``.

    Partitions are assigned directly (no group join, which is slow on Tansu); a
    second's grace after ``expected`` lets records that should not exist show up.
    """
    consumer = Consumer(
        kafka.client_config(
            **{"group.id": f"test-reader-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False}
        )
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            messages.extend(m for m in consumer.consume(10_000, timeout=0.5) if m.error() is None)
        messages.extend(m for m in consumer.consume(10_000, timeout=1.0) if m.error() is None)
    finally:
        consumer.close()
    return messages
