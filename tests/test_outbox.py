"""The outbox and the tick publisher on the in-memory broker: order, acks, back-pressure."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from volstream.errors import BrokerError
from volstream.kafka.outbox import Outbox
from volstream.producer.metrics import build_metrics
from volstream.producer.publisher import TickPublisher
from volstream.settings import KafkaSettings
from volstream.testing import FakeBroker, MetricsReader, synthetic_ticks
from volstream.ticks import TickBatch

KAFKA = KafkaSettings.model_validate({"bootstrap": "fake:9092"})


@pytest.fixture
def broker() -> FakeBroker:
    broker = FakeBroker()
    broker.create_topics(KAFKA)
    return broker


def records(n: int) -> tuple[list[bytes], list[bytes], list[int]]:
    values = [f"record {i}".encode() for i in range(n)]
    keys = [f"key-{i % 3}".encode() for i in range(n)]
    return values, keys, list(range(n))


def test_flush_returns_once_everything_is_acknowledged_in_key_order(broker: FakeBroker) -> None:
    outbox = Outbox(KAFKA, broker.clients())
    values, keys, timestamps = records(90)
    outbox.send_many(KAFKA.predictions_topic, values, keys, timestamps)
    assert broker.messages(KAFKA.predictions_topic) == []  # queued, not yet acknowledged
    outbox.flush()
    stored = broker.messages(KAFKA.predictions_topic)
    assert sorted(m.value() for m in stored) == sorted(values)
    for key in set(keys):
        same_key = [m for m in stored if m.key() == key]
        assert len({m.partition() for m in same_key}) == 1
        assert [m.timestamp()[1] for m in same_key] == sorted(m.timestamp()[1] for m in same_key)


def test_a_full_queue_waits_for_room_and_loses_nothing(broker: FakeBroker) -> None:
    broker.producer_capacity = 10
    outbox = Outbox(KAFKA, broker.clients())
    values, keys, timestamps = records(100)
    outbox.send_many(KAFKA.predictions_topic, values, keys, timestamps, partition=2)
    outbox.flush()
    assert broker.producers[0].full_errors > 0
    stored = broker.topics[KAFKA.predictions_topic][2]
    assert [m.value() for m in stored] == values  # in order, on the partition asked for


def test_an_unacknowledged_or_refused_record_fails_the_flush(broker: FakeBroker) -> None:
    outbox = Outbox(KAFKA, broker.clients())
    producer = broker.producers[0]
    values, keys, timestamps = records(5)
    producer.hold = True
    outbox.send_many(KAFKA.predictions_topic, values, keys, timestamps)
    with pytest.raises(BrokerError, match="5 records were not acknowledged"):
        outbox.flush()
    producer.hold = False
    producer.refuse(1)
    with pytest.raises(BrokerError, match="refused 1 records"):
        outbox.flush()
    assert len(broker.messages(KAFKA.predictions_topic)) == 4


def test_the_publisher_counts_acks_and_failures_per_batch(broker: FakeBroker) -> None:
    reader = MetricsReader()
    publisher = TickPublisher(
        KAFKA, KAFKA.ticks_topic, build_metrics(reader.registry, KAFKA.ticks_topic),
        broker.clients(),
    )  # fmt: skip
    broker.producers[0].capacity = 50  # publish waits for room, serving reports meanwhile
    ticks = synthetic_ticks(1000, symbols=5)
    broker.producers[0].refuse(3, KafkaError.MSG_SIZE_TOO_LARGE)
    publisher.publish(TickBatch.from_ticks(ticks))
    assert publisher.flush(1.0) == 0
    assert broker.producers[0].full_errors > 0
    assert (publisher.acked, publisher.failed) == (997, 3)
    assert reader.value("volstream_producer_ticks_total", topic=KAFKA.ticks_topic) == 997
    assert reader.total("volstream_producer_failed_total") == 3
    stored = broker.messages(KAFKA.ticks_topic)
    assert len(stored) == 997
    assert all(len({m.partition() for m in stored if m.key() == k}) == 1
               for k in {m.key() for m in stored})  # fmt: skip


def test_the_publisher_refuses_a_missing_topic(broker: FakeBroker) -> None:
    metrics = build_metrics(MetricsReader().registry, "nowhere")
    with pytest.raises(BrokerError, match="topic nowhere is not usable"):
        TickPublisher(KAFKA, "nowhere", metrics, broker.clients())
