"""Admin tasks: wait for the broker, create and describe topics, read watermarks."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    ClusterMetadata,
    NewTopic,
)

from volstream.errors import BrokerError
from volstream.kafka.clients import make_admin, make_reader
from volstream.settings import KafkaSettings

__all__ = [
    "PartitionInfo",
    "TopicInfo",
    "describe_topics",
    "ensure_topics",
    "list_topics",
    "wait_for_broker",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionInfo:
    """One partition: its leader and watermarks."""

    partition: int
    leader: int
    low: int
    high: int

    @property
    def messages(self) -> int:
        """Records between the watermarks (an upper bound on a compacted topic)."""
        return max(self.high - self.low, 0)


@dataclass(frozen=True)
class TopicInfo:
    """One topic and its partitions."""

    name: str
    partitions: list[PartitionInfo]


def wait_for_broker(settings: KafkaSettings, timeout: float | None = None) -> ClusterMetadata:
    """Block until the broker answers a metadata request, or raise :class:`BrokerError`."""
    timeout = settings.timeout_seconds if timeout is None else timeout
    admin = make_admin(settings, quiet=True)
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while True:
        remaining = deadline - time.monotonic()
        try:
            return admin.list_topics(timeout=max(min(remaining, 1.0), 0.1))
        except KafkaException as e:
            last_error = e.args[0].str() if e.args else str(e)
        if time.monotonic() >= deadline:
            msg = f"cannot reach Kafka at {settings.bootstrap} within {timeout:g} s ({last_error})"
            raise BrokerError(msg)
        time.sleep(0.1)


def ensure_topics(settings: KafkaSettings) -> dict[str, bool]:
    """Create the topics volstream owns where missing; returns topic -> created now."""
    existing = wait_for_broker(settings).topics
    wanted = settings.topic_partitions()
    missing = [
        NewTopic(name, partitions, settings.replication_factor)
        for name, partitions in wanted.items()
        if name not in existing
    ]
    created = _create(settings, missing)
    for name, partitions in wanted.items():
        if name in existing and len(existing[name].partitions) != partitions:
            log.warning(
                "topic %s has %d partitions, settings say %d; leaving it as it is",
                name,
                len(existing[name].partitions),
                partitions,
            )
    return {name: name in created for name in wanted}


def _create(settings: KafkaSettings, topics: list[NewTopic]) -> set[str]:
    if not topics:
        return set()
    created = set()
    admin = make_admin(settings)  # keep a reference: the futures fail if it is collected
    futures = admin.create_topics(topics, operation_timeout=settings.timeout_seconds)
    for name, future in futures.items():
        try:
            future.result(timeout=settings.timeout_seconds)
            created.add(name)
            log.info("created topic %s", name)
        except KafkaException as e:
            error = e.args[0]
            if error.name() == "TOPIC_ALREADY_EXISTS":
                continue
            msg = f"cannot create topic {name}: {error.str()}"
            raise BrokerError(msg) from e
    return created


def list_topics(settings: KafkaSettings) -> dict[str, int]:
    """Every topic on the broker (internal ones left out) with its partition count."""
    metadata = wait_for_broker(settings)
    return {
        name: len(topic.partitions)
        for name, topic in sorted(metadata.topics.items())
        if not name.startswith("__")
    }


def describe_topics(settings: KafkaSettings, names: list[str]) -> list[TopicInfo]:
    """Partitions, leaders and watermarks of ``names``; an unknown topic is an error."""
    metadata = wait_for_broker(settings)
    unknown = [name for name in names if name not in metadata.topics]
    if unknown:
        msg = f"no such topic: {', '.join(unknown)}"
        raise BrokerError(msg)
    consumer = make_reader(settings, "admin")
    try:
        return [
            TopicInfo(
                name,
                [
                    PartitionInfo(p.id, p.leader, *_watermarks(consumer, name, p.id, settings))
                    for p in sorted(metadata.topics[name].partitions.values(), key=_by_id)
                ],
            )
            for name in names
        ]
    finally:
        consumer.close()


def _by_id(partition: Any) -> int:
    return int(partition.id)


def _watermarks(
    consumer: Consumer, topic: str, partition: int, settings: KafkaSettings
) -> tuple[int, int]:
    try:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=settings.timeout_seconds
        )
    except KafkaException as e:
        msg = f"cannot read watermarks of {topic}[{partition}]: {e}"
        raise BrokerError(msg) from e
    return int(low), int(high)
