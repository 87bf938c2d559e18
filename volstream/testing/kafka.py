"""Tests against a real broker: fresh topics, and reading a topic back."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Message, TopicPartition

from volstream.kafka.admin import ensure_topics
from volstream.kafka.clients import make_reader
from volstream.settings import KafkaSettings

__all__ = ["fresh_topics", "read_all"]

READ_BATCH = 10_000
GRACE_SECONDS = 1.0


def fresh_topics(bootstrap: str, prefix: str = "test", **overrides: object) -> KafkaSettings:
    """Kafka settings with new topic names (``<prefix>-ticks-<random>``...), topics created."""
    suffix = uuid.uuid4().hex[:10]
    fields: dict[str, object] = {
        "bootstrap": bootstrap,
        "ticks_topic": f"{prefix}-ticks-{suffix}",
        "predictions_topic": f"{prefix}-predictions-{suffix}",
        "dlq_topic": f"{prefix}-ticks.dlq-{suffix}",
        "outcomes_topic": f"{prefix}-outcomes-{suffix}",
        "canary_topic": f"{prefix}-canary-{suffix}",
        **overrides,
    }
    kafka = KafkaSettings(**fields)  # type: ignore[arg-type]
    ensure_topics(kafka)
    return kafka


def read_all(
    kafka: KafkaSettings, topic: str, expected: int, timeout: float = 30.0
) -> list[Message]:
    """Every record of ``topic`` from the start, until ``expected`` arrived or ``timeout``.

    Partitions are assigned directly (no group join, which is slow on Tansu); a
    second's grace after ``expected`` lets records that should not exist show up.
    """
    reader = make_reader(kafka, "test-read")
    partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
    reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            messages.extend(m for m in reader.consume(READ_BATCH, timeout=0.5) if m.error() is None)
        grace = reader.consume(READ_BATCH, timeout=GRACE_SECONDS)
        messages.extend(m for m in grace if m.error() is None)
    finally:
        reader.close()
    return messages
