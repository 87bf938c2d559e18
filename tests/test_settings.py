from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from volstream.cli.demo import children_tuning
from volstream.errors import ConfigError
from volstream.settings import (
    BrokerSettings,
    ConsumerSettings,
    KafkaSettings,
    ProducerSettings,
    load,
)


def test_defaults_are_documented_values() -> None:
    kafka = load(KafkaSettings)
    assert kafka.bootstrap == "127.0.0.1:9092"
    assert kafka.topic_partitions() == {
        "ticks": 6,
        "predictions": 6,
        "ticks.dlq": 1,
        "outcomes": 6,
        "canary": 1,
    }
    assert load(ProducerSettings).rate == 1000.0


def test_environment_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    Path(".env").write_text("VOLSTREAM_KAFKA_TICKS_PARTITIONS=12\nVOLSTREAM_PRODUCER_RATE=50\n")
    monkeypatch.setenv("VOLSTREAM_PRODUCER_RATE", "75")
    assert load(KafkaSettings).ticks_partitions == 12
    assert load(ProducerSettings).rate == 75  # the environment wins over .env


def test_command_line_overrides_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOLSTREAM_PRODUCER_RATE", "75")
    assert load(ProducerSettings, rate=10).rate == 10
    assert load(ProducerSettings, rate=None).rate == 75


def test_kafka_properties_pass_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOLSTREAM_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    Path(".env").write_text("VOLSTREAM_KAFKA__SASL_MECHANISM=PLAIN\n")
    config = load(KafkaSettings, bootstrap="broker:9093").client_config(**{"group.id": "g"})
    assert config == {
        "bootstrap.servers": "broker:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "group.id": "g",
    }


def test_demo_tunes_clients_for_the_embedded_broker_unless_the_user_did(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert children_tuning() == {
        "VOLSTREAM_KAFKA_LINGER_MS": "100",
        "VOLSTREAM_KAFKA_FETCH_WAIT_MS": "50",
    }
    monkeypatch.setenv("VOLSTREAM_KAFKA__LINGER_MS", "5")  # the librdkafka property itself
    Path(".env").write_text("VOLSTREAM_KAFKA_FETCH_WAIT_MS=10\n")  # the setting
    assert children_tuning() == {}


@pytest.mark.parametrize(
    ("cls", "variable", "value", "expected"),
    [
        (KafkaSettings, "VOLSTREAM_KAFKA_BOOTSTRAP", "", "must name at least one host:port"),
        (KafkaSettings, "VOLSTREAM_KAFKA_BOOTSTRAP", "localhost", "expected host:port"),
        (KafkaSettings, "VOLSTREAM_KAFKA_TICKS_PARTITIONS", "0", "greater than or equal to 1"),
        (ProducerSettings, "VOLSTREAM_PRODUCER_RATE", "-5", "greater than or equal to 0"),
        (ProducerSettings, "VOLSTREAM_PRODUCER_SOURCE", "kraken", "'synthetic', 'replay' or"),
        (ProducerSettings, "VOLSTREAM_PRODUCER_SYMBOLS", "0", "between 1 and 10000"),
        (BrokerSettings, "VOLSTREAM_BROKER_PORT", "70000", "less than or equal to 65535"),
        (ConsumerSettings, "VOLSTREAM_CONSUMER_INSTANCE_ID", "c-{pod}", "only {hostname}"),
    ],
)
def test_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, cls: type, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load(cls)
    message = str(error.value)
    assert message.startswith(f"invalid setting {variable}: ")
    assert expected in message
    assert "\n" not in message


def test_instance_id_names_this_host_or_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOLSTREAM_CONSUMER_INSTANCE_ID", "consumer-{hostname}")
    assert load(ConsumerSettings).instance_id == f"consumer-{socket.gethostname()}"
    assert load(ConsumerSettings, instance_id="").instance_id is None


def test_symbols_as_count_or_names() -> None:
    assert load(ProducerSettings, symbols="3").symbol_names() == ["SYN-000", "SYN-001", "SYN-002"]
    assert load(ProducerSettings, symbols="BTC-USD, ETH-USD").symbol_names() == [
        "BTC-USD",
        "ETH-USD",
    ]
    assert load(ProducerSettings, source="coinbase").symbol_names()[0] == "BTC-USD"
    assert len(load(ProducerSettings).symbol_names()) == 100


def test_bad_setting_stops_the_command_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "volstream", "produce", "--count", "5"],
        env={"VOLSTREAM_PRODUCER_RATE": "-1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "volstream: error: invalid setting VOLSTREAM_PRODUCER_RATE: "
        "Input should be greater than or equal to 0 (got '-1')"
    ]


def test_repeated_log_lines_are_shown_once_per_window() -> None:
    import logging

    from volstream.logs import RepeatFilter

    repeat = RepeatFilter(window=60)

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("x", logging.WARNING, __file__, 1, message, (), None)

    shown = [repeat.filter(record("broker down")) for _ in range(100)]
    assert shown.count(True) == 1
    assert repeat.filter(record("another problem"))
    repeat._window = 0  # the window has passed
    again = record("broker down")
    assert repeat.filter(again)
    assert again.getMessage() == "broker down (and 99 more like it)"


def test_settings_are_frozen_once_built() -> None:
    settings = load(KafkaSettings, bootstrap="broker:9093")
    with pytest.raises(ValidationError, match="frozen"):
        settings.bootstrap = "other:9092"  # type: ignore[misc]
    assert settings.model_copy(update={"bootstrap": "other:9092"}).bootstrap == "other:9092"


def test_a_bad_setting_is_one_line_and_debug_shows_the_traceback() -> None:
    import subprocess
    import sys

    env = {**os.environ, "VOLSTREAM_DEVICE": "bogus"}
    command = [sys.executable, "-m", "volstream"]
    plain = subprocess.run([*command, "consume"], capture_output=True, text=True, env=env)
    assert plain.returncode == 1
    assert plain.stderr.strip().splitlines() == [
        "volstream: error: invalid setting VOLSTREAM_DEVICE: Input should be 'auto', 'cpu' or "
        "'cuda' (got 'bogus')"
    ]
    debug = subprocess.run(
        [*command, "--debug", "consume"], capture_output=True, text=True, env=env
    )
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and "ConfigError" in debug.stderr


def test_a_value_the_message_already_names_is_not_repeated() -> None:
    with pytest.raises(ConfigError) as raised:
        load(KafkaSettings, bootstrap="localhost")
    assert str(raised.value) == (
        "invalid setting VOLSTREAM_KAFKA_BOOTSTRAP: expected host:port, got 'localhost'"
    )
