"""``volstream demo``: the whole pipeline on one machine, on the embedded broker."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from volstream.cli.options import described
from volstream.cli.produce import run_producer
from volstream.kafka.admin import ensure_topics
from volstream.kafka.embedded import EmbeddedBroker
from volstream.lifecycle import install_stop_handlers
from volstream.settings import BrokerSettings, ProducerSettings, load

log = logging.getLogger(__name__)


def demo(
    port: Annotated[int | None, typer.Option(help=described(BrokerSettings, "port"))] = None,
    rate: Annotated[float | None, typer.Option(help=described(ProducerSettings, "rate"))] = None,
) -> None:
    """Start the embedded broker, create the topics and stream synthetic ticks until Ctrl-C."""
    broker_settings = load(BrokerSettings, port=port)
    producer_settings = load(ProducerSettings, source="synthetic", rate=rate)
    stop = install_stop_handlers()
    with EmbeddedBroker(broker_settings) as broker:
        kafka = broker.kafka_settings()
        ensure_topics(kafka)
        log.info("demo: broker at %s; streaming synthetic ticks, Ctrl-C stops", broker.bootstrap)
        summary = run_producer(kafka, producer_settings, stop)
    typer.echo(f"demo stopped: {summary.line()}")
