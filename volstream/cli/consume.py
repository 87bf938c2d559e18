"""``volstream consume`` and ``volstream lag``."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from volstream.cli.kafka import Bootstrap
from volstream.cli.models import Registry
from volstream.cli.options import described
from volstream.lifecycle import install_stop_handlers
from volstream.settings import ConsumerSettings, DeviceSettings, KafkaSettings, ModelSettings, load

if TYPE_CHECKING:
    from volstream.lag import PartitionLag

C = ConsumerSettings
console = Console()


def consume(
    group: Annotated[str | None, typer.Option(help=described(C, "group"))] = None,
    instance_id: Annotated[str | None, typer.Option(help=described(C, "instance_id"))] = None,
    batch_size: Annotated[int | None, typer.Option(help=described(C, "batch_size"))] = None,
    batch_wait_ms: Annotated[float | None, typer.Option(help=described(C, "batch_wait_ms"))] = None,
    stop_at_end: Annotated[
        bool | None, typer.Option("--stop-at-end", help=described(C, "stop_at_end"))
    ] = None,
    max_messages: Annotated[int | None, typer.Option(help=described(C, "max_messages"))] = None,
    rebuild: Annotated[
        bool | None, typer.Option("--rebuild/--no-rebuild", help=described(C, "rebuild"))
    ] = None,
    metrics_port: Annotated[int | None, typer.Option(help=described(C, "metrics_port"))] = None,
    variant: Annotated[str | None, typer.Option(help=described(ModelSettings, "variant"))] = None,
    registry: Registry = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Turn ticks into predictions: features, inference, publish, commit, with lag metrics.

    Run several with the same --group to share the partitions. Example:
    `volstream consume --stop-at-end` processes the backlog and exits.
    """
    from volstream.consumer.main import run

    settings = load(
        ConsumerSettings, group=group, instance_id=instance_id, batch_size=batch_size,
        batch_wait_ms=batch_wait_ms, stop_at_end=stop_at_end, max_messages=max_messages,
        rebuild=rebuild, metrics_port=metrics_port,
    )  # fmt: skip
    model = load(ModelSettings, registry=registry, variant=variant)
    kafka = load(KafkaSettings, bootstrap=bootstrap)
    device = load(DeviceSettings)
    summary = run(kafka, settings, model, install_stop_handlers(), device=device)
    typer.echo(summary.line())


def lag(
    group: Annotated[str | None, typer.Option(help=described(C, "group"))] = None,
    topic: Annotated[list[str] | None, typer.Option(help="Only these topics (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    bootstrap: Bootstrap = None,
) -> None:
    """Show a consumer group's lag per partition: offsets, records and seconds behind, owner."""
    from volstream.lag import group_lag

    kafka = load(KafkaSettings, bootstrap=bootstrap)
    consumer = load(ConsumerSettings, group=group)
    rows, described = group_lag(kafka, consumer.group, topic, consumer.batch_size)
    if as_json:
        typer.echo(json.dumps([{**asdict(row), "state": row.state} for row in rows]))
        return
    table = Table("topic", "partition", "committed", "high watermark", "lag", "lag (s)", "state",
                  "owner", title=f"group {consumer.group}")  # fmt: skip
    for row in rows:
        high = f"{row.high_watermark}{'*' if row.watermark_read_low else ''}"
        cells = (row.topic, row.partition, row.committed, high, f"{row.lag:,}",
                 f"{row.lag_seconds:.1f}", row.state, row.owner or "-")  # fmt: skip
        table.add_row(*(str(cell) for cell in cells))
    console.print(table)
    for line in lag_notes(rows, described, consumer.batch_size):
        typer.echo(line)
    if not rows:
        typer.echo(f"group {consumer.group} has no committed offsets")


def lag_notes(rows: list[PartitionLag], described: bool, batch: int) -> list[str]:
    """What a reader of the table needs to know to trust it."""
    notes = [f"state: ok within one batch ({batch:,} records, VOLSTREAM_CONSUMER_BATCH_SIZE)"]
    if any(row.watermark_read_low for row in rows):
        notes.append(
            "* the broker read the watermark below the committed offset (Tansu answers the "
            "last batch's base offset + 1); shown as the committed offset, lag 0"
        )
    if rows and not any(row.owner for row in rows):
        why = "reported no assignments" if described else "did not describe the group"
        notes.append(f"owner: - because the broker {why} (the embedded Tansu broker does not)")
    return notes
