"""Shared fixtures: a clean environment per test and a real Kafka-compatible broker.

The broker is ``VOLSTREAM_KAFKA_BOOTSTRAP`` when set, else a testcontainers
Kafka when a Docker engine answers, else the embedded Tansu broker, started once
per session on a free port. Each test gets its own topics.
"""

from __future__ import annotations

import gc
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from volstream.kafka.embedded import EmbeddedBroker, free_port
from volstream.settings import BrokerSettings, KafkaSettings
from volstream.testing import fresh_topics, train_tiny_model

_BOOTSTRAP_FROM_ENV = os.environ.get("VOLSTREAM_KAFKA_BOOTSTRAP")


@pytest.fixture(autouse=True)
def _clean_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No VOLSTREAM_* setting or .env file leaks into a test (CI's VOLSTREAM_REQUIRE_TOOLS,
    which is no setting, stays)."""
    for name in list(os.environ):
        if name.startswith("VOLSTREAM_") and name != "VOLSTREAM_REQUIRE_TOOLS":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


def _docker_answers() -> bool:
    if not (os.environ.get("DOCKER_HOST") or Path("/var/run/docker.sock").exists()):
        return False
    import docker

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # docker-py leaks a socket on failure
        try:
            client = docker.from_env(timeout=2)
            answered = bool(client.ping())
            client.close()
        except Exception:
            answered = False
        gc.collect()
    return answered


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """host:port of a real broker for the whole session."""
    if _BOOTSTRAP_FROM_ENV:
        yield _BOOTSTRAP_FROM_ENV
    elif _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("apache/kafka:3.9.1").with_kraft() as container:
            yield container.get_bootstrap_server()
    else:
        with EmbeddedBroker(BrokerSettings(port=free_port())) as broker:
            yield broker.bootstrap


@pytest.fixture
def make_kafka(kafka_bootstrap: str) -> Callable[..., KafkaSettings]:
    """Factory: Kafka settings with fresh topic names, topics created."""

    def make(**overrides: object) -> KafkaSettings:
        return fresh_topics(kafka_bootstrap, **overrides)

    return make


@pytest.fixture
def kafka(make_kafka: Callable[..., KafkaSettings]) -> KafkaSettings:
    """Kafka settings with fresh, created topics (6 partitions for ticks)."""
    return make_kafka()


@pytest.fixture(scope="session")
def small_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry with one small trained model (a few seconds to train)."""
    registry = tmp_path_factory.mktemp("small-models")
    train_tiny_model(registry)
    return registry
