"""The consumer's loop on the in-memory broker: acks before commits, revocation, rebuild.

tests/integration/test_consumer.py runs the same loop against a real broker.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from volstream.consumer.main import build
from volstream.consumer.rebuild import rebuild
from volstream.consumer.stream import StreamConsumer
from volstream.errors import BrokerError
from volstream.feature_engine import FeatureEngine
from volstream.features import LONGEST_MS
from volstream.settings import ConsumerSettings, KafkaSettings, ModelSettings
from volstream.testing import FakeBroker, PredictionSink, publish_ticks, synthetic_ticks
from volstream.ticks import TickBatch

KAFKA = KafkaSettings.model_validate({"bootstrap": "fake:9092", "ticks_partitions": 4})


def consumer_on(
    broker: FakeBroker, registry: Path, kafka: KafkaSettings = KAFKA, **fields: object
) -> StreamConsumer:
    settings = ConsumerSettings.model_validate(
        {"metrics_port": 0, "stop_at_end": True, "batch_size": 100, **fields}
    )
    model = ModelSettings.model_validate({"registry": registry})
    worker = build(kafka, settings, model, CollectorRegistry(), clients=broker.clients())
    assert worker is not None
    return worker


@pytest.fixture
def broker() -> FakeBroker:
    broker = FakeBroker()
    broker.create_topics(KAFKA)
    publish_ticks(broker, KAFKA.ticks_topic, synthetic_ticks(2000, symbols=8))
    return broker


def ends(broker: FakeBroker, topic: str) -> dict[int, int]:
    return {p: len(log) for p, log in enumerate(broker.topics[topic])}


def committed(broker: FakeBroker, group: str = "volstream") -> dict[int, int]:
    return {p: o for (g, t, p), o in broker.committed.items() if g == group}


def test_every_tick_is_predicted_once_and_committed(
    broker: FakeBroker, small_registry: Path
) -> None:
    worker = consumer_on(broker, small_registry)
    worker.run(threading.Event())
    worker.close()
    predictions = PredictionSink(broker, KAFKA.predictions_topic)
    assert len(predictions.predictions()) == 2000
    assert sorted(predictions.by_source()) == sorted(
        (m.partition(), m.offset()) for m in broker.messages(KAFKA.ticks_topic)
    )
    assert committed(broker) == ends(broker, KAFKA.ticks_topic)
    assert (worker.consumed, worker.predicted, worker.rejected) == (2000, 2000, 0)


def test_nothing_is_committed_before_its_predictions_are_acknowledged(
    broker: FakeBroker, small_registry: Path
) -> None:
    worker = consumer_on(
        broker, small_registry, KAFKA.model_copy(update={"ack_timeout_seconds": 1})
    )
    broker.producers[0].hold = True  # the broker takes nothing
    with pytest.raises(BrokerError, match="not acknowledged"):
        worker.run(threading.Event())
    assert committed(broker) == {}
    assert broker.messages(KAFKA.predictions_topic) == []


@pytest.mark.parametrize(
    "after",
    [600, 601],  # 601: between a batch's first record (partition 0) and the rest of it
)
def test_revoked_partitions_are_settled_and_committed_then_left(
    broker: FakeBroker, small_registry: Path, after: int
) -> None:
    worker = consumer_on(broker, small_registry)
    fake = broker.consumers[0]
    fake.revoke([0, 1], after=after)
    worker.run(threading.Event())
    worker.close()
    done = committed(broker)
    total = ends(broker, KAFKA.ticks_topic)
    assert all(0 < done[p] < total[p] for p in (0, 1))  # part of them, then given up
    assert all(done[p] == total[p] for p in (2, 3))
    predicted = PredictionSink(broker, KAFKA.predictions_topic).by_source()
    for p in range(4):  # each partition predicted exactly up to its committed offset
        assert sorted(o for q, o in predicted if q == p) == list(range(done[p]))
    assert len(predicted) == len(broker.messages(KAFKA.predictions_topic))  # none twice


def test_rebuild_restores_the_rolling_windows_before_the_committed_offset() -> None:
    broker = FakeBroker()
    topic = "ticks"
    broker.create(topic, 1)
    ticks = synthetic_ticks(1500, symbols=3, tick_rate=5)  # about five minutes
    publish_ticks(broker, topic, ticks)
    committed_offset = 1000
    whole = FeatureEngine()
    whole.update(TickBatch.from_ticks(ticks[:committed_offset]))
    rebuilt = FeatureEngine()
    reader = broker.clients().reader(KAFKA, "test")
    folded = rebuild(reader, topic, 0, committed_offset, rebuilt)
    last = ticks[committed_offset - 1].event_time_ms
    assert folded == sum(
        last - LONGEST_MS <= t.event_time_ms for t in ticks[:committed_offset]
    )  # only the longest window is read back
    assert folded < committed_offset
    rest = TickBatch.from_ticks(ticks[committed_offset:])
    # equal but for the rounding of running sums that started at different ticks
    np.testing.assert_allclose(rebuilt.update(rest), whole.update(rest), rtol=1e-9, atol=1e-12)


def test_partitions_whose_offsets_the_broker_lost_are_read_from_the_log_start(
    broker: FakeBroker, small_registry: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker restarted empty: the session is lost, and the group's offsets with the
    records. Reassigned, each partition is read from the new log's start, and one line says
    why."""
    worker = consumer_on(broker, small_registry)
    new_ticks = synthetic_ticks(100, symbols=8)

    def restart_empty() -> None:
        broker.committed.clear()
        broker.topics[KAFKA.ticks_topic] = [[] for _ in range(KAFKA.ticks_partitions)]
        publish_ticks(broker, KAFKA.ticks_topic, new_ticks)

    broker.consumers[0].lose(after=1000, meanwhile=restart_empty)
    worker.run(threading.Event())
    worker.close()
    assert committed(broker) == ends(broker, KAFKA.ticks_topic)  # every new tick, from offset 0
    said = [r.getMessage() for r in caplog.records if "the broker lost" in r.getMessage()]
    assert len(said) == 1, said
    assert "partitions [0, 1, 2, 3] of ticks" in said[0]
