"""``volstream broker`` and ``volstream topics``."""

from __future__ import annotations

import json
import logging
import threading
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from volstream.cli.options import described
from volstream.kafka.admin import describe_topics, ensure_topics, list_topics
from volstream.kafka.embedded import EmbeddedBroker
from volstream.lifecycle import install_stop_handlers
from volstream.settings import BrokerSettings, KafkaSettings, load

log = logging.getLogger(__name__)
console = Console()
topics_app = typer.Typer(help="Create, list and describe topics.", no_args_is_help=True)

Bootstrap = Annotated[
    str | None, typer.Option("--bootstrap", help=described(KafkaSettings, "bootstrap"))
]


def broker(
    host: Annotated[str | None, typer.Option(help=described(BrokerSettings, "host"))] = None,
    port: Annotated[int | None, typer.Option(help=described(BrokerSettings, "port"))] = None,
    advertised_host: Annotated[
        str | None, typer.Option(help=described(BrokerSettings, "advertised_host"))
    ] = None,
    create_topics: Annotated[
        bool, typer.Option("--topics/--no-topics", help="Create volstream's topics once it is up.")
    ] = True,
) -> None:
    """Run the embedded Kafka-compatible broker (Tansu, in memory) until Ctrl-C."""
    settings = load(BrokerSettings, host=host, port=port, advertised_host=advertised_host)
    stop = install_stop_handlers()
    with EmbeddedBroker(settings) as embedded:
        if create_topics:
            ensure_topics(load(KafkaSettings, bootstrap=embedded.bootstrap))
        log.info("broker ready: VOLSTREAM_KAFKA_BOOTSTRAP=%s (Ctrl-C stops it)", embedded.bootstrap)
        wait_while_running(embedded, stop)


def wait_while_running(embedded: EmbeddedBroker, stop: threading.Event) -> None:
    """Block until ``stop`` is set or the broker dies on its own."""
    while not stop.wait(0.5):
        if not embedded.running():
            log.error("the embedded broker exited unexpectedly")
            raise typer.Exit(1)


@topics_app.command("create")
def topics_create(bootstrap: Bootstrap = None) -> None:
    """Create the ticks, predictions and dead-letter topics where missing."""
    kafka = load(KafkaSettings, bootstrap=bootstrap)
    created = ensure_topics(kafka)
    partitions = kafka.topic_partitions()
    table = Table("topic", "partitions", "status")
    for name, new in created.items():
        table.add_row(name, str(partitions[name]), "created" if new else "exists")
    console.print(table)


@topics_app.command("list")
def topics_list(
    bootstrap: Bootstrap = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the topics on the broker with their partition counts."""
    topics = list_topics(load(KafkaSettings, bootstrap=bootstrap))
    if as_json:
        typer.echo(json.dumps(topics))
        return
    table = Table("topic", "partitions")
    for name, count in topics.items():
        table.add_row(name, str(count))
    console.print(table)


@topics_app.command("describe")
def topics_describe(
    names: Annotated[
        list[str] | None, typer.Argument(help="Topics to describe; default: volstream's three.")
    ] = None,
    bootstrap: Bootstrap = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show each partition's leader, watermarks and message count."""
    kafka = load(KafkaSettings, bootstrap=bootstrap)
    topics = describe_topics(kafka, names or list(kafka.topic_partitions()))
    if as_json:
        rows = [
            {"topic": t.name, "partition": p.partition, "leader": p.leader, "low": p.low,
             "high": p.high, "messages": p.messages}
            for t in topics for p in t.partitions
        ]  # fmt: skip
        typer.echo(json.dumps(rows))
        return
    table = Table("topic", "partition", "leader", "low", "high", "messages")
    for topic in topics:
        for p in topic.partitions:
            table.add_row(topic.name, *(str(v) for v in (p.partition, p.leader, p.low, p.high)),
                          f"{p.messages:,}")  # fmt: skip
    console.print(table)
