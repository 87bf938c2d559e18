from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from volstream.errors import BrokerError
from volstream.kafka.admin import describe_topics, ensure_topics, wait_for_broker
from volstream.kafka.embedded import EmbeddedBroker, free_port
from volstream.settings import BrokerSettings, KafkaSettings

pytestmark = pytest.mark.kafka


def volstream(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "volstream", *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_embedded_broker_starts_answers_and_stops() -> None:
    broker = EmbeddedBroker(BrokerSettings(port=free_port()))
    with broker:
        assert broker.running()
        wait_for_broker(broker.kafka_settings(), timeout=5)
    assert not broker.running()
    with pytest.raises(BrokerError):
        wait_for_broker(broker.kafka_settings(), timeout=1)


def test_a_broker_on_every_interface_advertises_the_address_it_is_given() -> None:
    """In a container it listens on 0.0.0.0 and tells clients its service name."""
    settings = BrokerSettings(host="0.0.0.0", port=free_port(), advertised_host="localhost")  # noqa: S104
    with EmbeddedBroker(settings) as broker:
        assert broker.bootstrap == f"localhost:{settings.port}"
        kafka = broker.kafka_settings()
        ensure_topics(kafka)  # metadata, then the advertised address, answer
        [ticks] = describe_topics(kafka, [kafka.ticks_topic])
        assert ticks.name == kafka.ticks_topic


def test_port_in_use_is_a_clear_error(kafka_bootstrap: str) -> None:
    host, port = kafka_bootstrap.split(":")
    with pytest.raises(BrokerError, match=f"{port} is already in use"):
        EmbeddedBroker(BrokerSettings(host=host, port=int(port))).start()


def test_topics_are_created_with_configured_partitions(kafka_bootstrap: str) -> None:
    kafka = KafkaSettings(
        bootstrap=kafka_bootstrap, ticks_topic="t-created", predictions_topic="p-created",
        dlq_topic="d-created", outcomes_topic="o-created", canary_topic="c-created",
        ticks_partitions=4,
    )  # fmt: skip
    created = ["t-created", "p-created", "d-created", "o-created", "c-created"]
    assert ensure_topics(kafka) == dict.fromkeys(created, True)
    assert ensure_topics(kafka) == dict.fromkeys(created, False)
    [ticks] = describe_topics(kafka, ["t-created"])
    assert [p.partition for p in ticks.partitions] == [0, 1, 2, 3]
    assert all(p.high == 0 for p in ticks.partitions)


def test_topics_commands(kafka_bootstrap: str) -> None:
    env = {"VOLSTREAM_KAFKA_TICKS_TOPIC": "cli-ticks", "VOLSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap}
    created = volstream("topics", "create", env=env)
    assert created.returncode == 0, created.stderr
    assert "cli-ticks" in created.stdout and "created" in created.stdout
    listed = json.loads(volstream("topics", "list", "--json", env=env).stdout)
    assert listed["cli-ticks"] == 6
    described = json.loads(volstream("topics", "describe", "cli-ticks", "--json", env=env).stdout)
    assert [row["partition"] for row in described] == list(range(6))
    missing = volstream("topics", "describe", "no-such-topic", env=env)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "volstream: error: no such topic: no-such-topic"


def test_unreachable_broker_is_one_line_and_nonzero() -> None:
    port = free_port()
    result = volstream(
        "topics", "list", "--bootstrap", f"127.0.0.1:{port}",
        env={"VOLSTREAM_KAFKA_TIMEOUT_SECONDS": "1.5"},
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"volstream: error: cannot reach Kafka at 127.0.0.1:{port} within 1.5 s"
    )


def test_broker_command_runs_until_sigterm() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "volstream", "broker", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        kafka = KafkaSettings(bootstrap=f"127.0.0.1:{port}")
        wait_for_broker(kafka, timeout=20)
        deadline = time.monotonic() + 10
        while "ticks" not in set(wait_for_broker(kafka).topics) and time.monotonic() < deadline:
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=5)
    finally:
        process.kill()
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert "broker ready: VOLSTREAM_KAFKA_BOOTSTRAP=127.0.0.1:" in output
