"""librdkafka clients: our own settings give no configuration warning, and its lines are ours."""

from __future__ import annotations

import logging

import pytest

from volstream.kafka.clients import make_admin, make_consumer, make_producer, make_reader
from volstream.kafka.watch import BrokerWatch
from volstream.settings import KafkaSettings

TUNED = {"bootstrap": "127.0.0.1:1", "linger_ms": 100, "fetch_wait_ms": 50}  # as the demo's


def start_and_close(kafka: KafkaSettings) -> None:
    producer = make_producer(kafka, lambda error, message: None, on_stats=lambda text: None)
    consumer, reader = make_consumer(kafka, "g"), make_reader(kafka, "test")
    admin = make_admin(kafka)
    for client in (producer, consumer, reader, admin):
        client.poll(0.2)  # serves the log lines queued at creation
    consumer.close()
    reader.close()


def test_our_settings_make_no_configuration_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="volstream.librdkafka"):
        start_and_close(KafkaSettings.model_validate(TUNED))
    assert "CONFWARN" not in caplog.text


def test_a_misplaced_property_is_said_in_our_log(caplog: pytest.LogCaptureFixture) -> None:
    """The control: the test above would see a warning; it comes through our logger."""
    kafka = KafkaSettings.model_validate({**TUNED, "properties": {"fetch.wait.max.ms": "50"}})
    with caplog.at_level(logging.DEBUG, logger="volstream.librdkafka"):
        start_and_close(kafka)
    warned = [r for r in caplog.records if "CONFWARN" in r.getMessage()]
    assert warned and all(r.name == "volstream.librdkafka" for r in warned)
    assert "fetch.wait.max.ms is a consumer property" in caplog.text


def test_a_broker_silent_with_requests_waiting_is_said_once_then_its_return(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch = BrokerWatch(stall_seconds=5)
    with caplog.at_level(logging.INFO, logger="volstream.kafka.watch"):
        for second in range(12):  # two clients; the broker stops answering at 2 s
            for client in ("consumer", "outbox"):
                watch.observe(client, "kafka:9092", min(second, 2), waiting=1, now=second)
        assert caplog.messages == [
            "broker kafka:9092 has answered nothing for 5 s (1 requests waiting): work waits for it"
        ]
        watch.observe("outbox", "kafka:9092", 3, waiting=0, now=20)
        watch.observe("consumer", "kafka:9092", 3, waiting=0, now=21)
    assert caplog.messages[1:] == ["broker kafka:9092 answers again after 18 s"]


def test_a_quiet_broker_or_a_busy_one_is_not_a_stall(caplog: pytest.LogCaptureFixture) -> None:
    watch = BrokerWatch(stall_seconds=5)
    with caplog.at_level(logging.INFO, logger="volstream.kafka.watch"):
        for second in range(30):
            watch.observe("idle", "kafka:9092", 7, waiting=0, now=second)  # nothing asked
            watch.observe("join", "kafka:9092", 3, waiting=1, now=second)  # asked, waiting
            watch.observe("fetching", "kafka:9092", second, waiting=1, now=second)  # answered
    assert caplog.messages == []


def test_reports_served_late_do_not_say_a_stall_twice(caplog: pytest.LogCaptureFixture) -> None:
    """A client blocked in a flush serves its reports of the stall only after it ended."""
    watch = BrokerWatch(stall_seconds=5)
    with caplog.at_level(logging.INFO, logger="volstream.kafka.watch"):
        for second in range(10):
            watch.observe("consumer", "kafka:9092", min(second, 1), waiting=1, now=second)
        watch.observe("consumer", "kafka:9092", 2, waiting=0, now=10)
        for second in range(10):  # the outbox's reports of the same seconds, served now
            watch.observe("outbox", "kafka:9092", 1, waiting=1, now=second)
    assert len(caplog.messages) == 2, caplog.messages
