"""``volstream demo``: the whole pipeline on one machine, on the embedded broker."""

from __future__ import annotations

import logging
import threading
from typing import Annotated

import typer

from volstream.cli.models import progress_bars
from volstream.cli.options import described
from volstream.cli.produce import run_producer
from volstream.errors import VolstreamError
from volstream.kafka.admin import ensure_topics
from volstream.kafka.embedded import EmbeddedBroker
from volstream.lifecycle import install_stop_handlers
from volstream.settings import (
    BrokerSettings,
    ConsumerSettings,
    KafkaSettings,
    ModelSettings,
    ProducerSettings,
    TrainSettings,
    load,
)

log = logging.getLogger(__name__)


def demo(
    port: Annotated[int | None, typer.Option(help=described(BrokerSettings, "port"))] = None,
    rate: Annotated[float | None, typer.Option(help=described(ProducerSettings, "rate"))] = None,
) -> None:
    """Run the pipeline on the embedded broker until Ctrl-C.

    Starts the broker, creates the topics, trains a model when the registry has
    none, streams synthetic ticks and turns them into predictions.
    """
    broker_settings = load(BrokerSettings, port=port)
    producer_settings = load(ProducerSettings, source="synthetic", rate=rate)
    model_settings = load(ModelSettings)
    ensure_model(model_settings)
    consumer_settings = load(ConsumerSettings)
    stop = install_stop_handlers()
    with EmbeddedBroker(broker_settings) as broker:
        kafka = broker.kafka_settings()
        ensure_topics(kafka)
        consumer = start_consumer(kafka, consumer_settings, model_settings, stop)
        log.info("demo: broker at %s; streaming synthetic ticks, Ctrl-C stops", broker.bootstrap)
        log.info(
            "demo: metrics at http://127.0.0.1:%d/metrics (producer), "
            "http://127.0.0.1:%d/metrics (consumer)",
            producer_settings.metrics_port, consumer_settings.metrics_port,
        )  # fmt: skip
        summary = run_producer(kafka, producer_settings, stop)
        stop.set()
        consumer.join(15)
    typer.echo(f"demo stopped: {summary.line()}")


def start_consumer(
    kafka: KafkaSettings, settings: ConsumerSettings, model: ModelSettings, stop: threading.Event
) -> threading.Thread:
    """The consumer in a thread of its own; it stops with ``stop``."""
    from consumer.main import run

    def consume() -> None:
        try:
            run(kafka, settings, model, stop)
        except VolstreamError as e:
            log.error("demo: the consumer stopped: %s", e)
            stop.set()

    thread = threading.Thread(target=consume, name="consumer")
    thread.start()
    return thread


def ensure_model(settings: ModelSettings) -> None:
    """Train a model with the default settings when the registry has no current one."""
    from volstream.model.registry import ModelRegistry
    from volstream.model.training import train

    registry = ModelRegistry(settings.registry)
    if registry.current_name():
        log.info("demo: serving model %s from %s", registry.current_name(), settings.registry)
        return
    log.info("demo: no model in %s yet; training one (about 15 s)", settings.registry)
    with progress_bars() as report:
        version = train(load(TrainSettings), settings, report)
    log.info("demo: trained model %s", version.name)
