"""librdkafka clients: our own settings give no configuration warning, and its lines are ours."""

from __future__ import annotations

import logging

import pytest

from volstream.kafka.clients import make_admin, make_consumer, make_producer, make_reader
from volstream.settings import KafkaSettings

TUNED = {"bootstrap": "127.0.0.1:1", "linger_ms": 100, "fetch_wait_ms": 50}  # as the demo's


def start_and_close(kafka: KafkaSettings) -> None:
    producer = make_producer(kafka, lambda error, message: None)
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
