"""The outbox and the tick publisher on the in-memory broker: order, acks, back-pressure."""

from __future__ import annotations

import json

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
QUICK = KAFKA.model_copy(update={"ack_timeout_seconds": 0.5})  # a flush that fails fails fast


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
    outbox = Outbox(QUICK, broker.clients())
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


def test_a_client_that_fails_for_good_is_replaced_and_loses_nothing(
    broker: FakeBroker, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(KAFKA, broker.clients())
    first = broker.producers[0]
    first.hold = True  # the broker has not acknowledged these when the client fails
    values, keys, timestamps = records(90)
    outbox.send_many(KAFKA.predictions_topic, values[:40], keys[:40], timestamps[:40])
    first.fail_after(25)  # mid-batch: 25 more are queued, then produce raises
    outbox.send_many(KAFKA.predictions_topic, values[40:], keys[40:], timestamps[40:], partition=1)
    outbox.flush()
    assert len(broker.producers) == 2
    stored = broker.messages(KAFKA.predictions_topic)
    assert sorted(m.value() for m in stored) == sorted(values)  # each once
    assert [m.value() for m in broker.topics[KAFKA.predictions_topic][1]][-50:] == values[40:]
    for key in set(keys[:40]):  # by key: each key's order kept
        same_key = [m.timestamp()[1] for m in stored if m.key() == key and m.timestamp()[1] < 40]
        assert same_key == sorted(same_key)
    said = [r.getMessage() for r in caplog.records if "failed for good" in r.getMessage()]
    assert said == [said[0]] and "re-sends the 65 records" in said[0]


def test_the_publisher_counts_resent_ticks_once(broker: FakeBroker) -> None:
    reader = MetricsReader()
    publisher = TickPublisher(
        KAFKA, KAFKA.ticks_topic, build_metrics(reader.registry, KAFKA.ticks_topic),
        broker.clients(),
    )  # fmt: skip
    ticks = synthetic_ticks(1000, symbols=5)
    broker.producers[0].hold = True
    publisher.publish(TickBatch.from_ticks(ticks[:500]))
    broker.producers[0].fail_after(0)
    publisher.publish(TickBatch.from_ticks(ticks[500:]))
    assert publisher.flush(1.0) == 0
    assert (publisher.acked, publisher.failed) == (1000, 0)
    assert reader.value("volstream_producer_ticks_total", topic=KAFKA.ticks_topic) == 1000
    stored = broker.messages(KAFKA.ticks_topic)
    assert len(stored) == 1000
    for key in {m.key() for m in stored}:
        times = [m.timestamp()[1] for m in stored if m.key() == key]
        assert times == sorted(times)


def report_epoch(broker: FakeBroker, epoch: int) -> None:
    """librdkafka's statistics of the newest client, as its stats_cb gets them."""
    on_stats = broker.producers[-1].on_stats
    assert on_stats is not None
    on_stats(json.dumps({"name": "p", "ts": 1, "brokers": {}, "eos": {"producer_epoch": epoch}}))


@pytest.mark.parametrize(("epochs", "clients"), [((0, 1, 2), 1), ((0, 45), 2)])
def test_a_producer_whose_epoch_keeps_rising_is_replaced(
    broker: FakeBroker, epochs: tuple[int, ...], clients: int
) -> None:
    """A healthy client may bump its epoch once; 45 bumps a second is a broker that keeps
    forgetting it (the embedded broker after an empty restart)."""
    outbox = Outbox(QUICK, broker.clients())
    broker.producers[0].hold = True
    values, keys, timestamps = records(10)
    outbox.send_many(KAFKA.predictions_topic, values, keys, timestamps)
    for epoch in epochs:
        report_epoch(broker, epoch)
    if clients == 1:
        with pytest.raises(BrokerError, match="10 records were not acknowledged"):
            outbox.flush()
    else:
        outbox.flush()
        assert sorted(m.value() for m in broker.messages(KAFKA.predictions_topic)) == values
    assert len(broker.producers) == clients


@pytest.mark.parametrize("code", [KafkaError.UNKNOWN_PRODUCER_ID, KafkaError.PRODUCER_FENCED])
def test_records_the_broker_did_not_write_for_an_unknown_producer_are_sent_again(
    broker: FakeBroker, code: int
) -> None:
    outbox = Outbox(KAFKA, broker.clients())
    broker.producers[0].refuse(3, code)
    values, keys, timestamps = records(20)
    outbox.send_many(KAFKA.predictions_topic, values, keys, timestamps)
    outbox.flush()  # no failure: the three were sent again on a new client
    assert len(broker.producers) == 2
    assert sorted(m.value() for m in broker.messages(KAFKA.predictions_topic)) == sorted(values)
