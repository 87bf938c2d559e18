"""``volstream produce``: publish ticks from a source."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from volstream.cli.kafka import Bootstrap
from volstream.cli.options import described
from volstream.lifecycle import install_stop_handlers
from volstream.settings import KafkaSettings, ProducerSettings, load

if TYPE_CHECKING:
    from volstream.producer.main import ProduceSummary

P = ProducerSettings


def produce(
    source: Annotated[str | None, typer.Option(help="synthetic, replay or coinbase.")] = None,
    rate: Annotated[float | None, typer.Option(help=described(P, "rate"))] = None,
    speed: Annotated[float | None, typer.Option(help=described(P, "speed"))] = None,
    count: Annotated[int | None, typer.Option(help=described(P, "count"))] = None,
    duration: Annotated[
        float | None, typer.Option(help=described(P, "duration_seconds"), metavar="SECONDS")
    ] = None,
    symbols: Annotated[str | None, typer.Option(help=described(P, "symbols"))] = None,
    seed: Annotated[int | None, typer.Option(help=described(P, "seed"))] = None,
    path_seed: Annotated[int | None, typer.Option(help=described(P, "path_seed"))] = None,
    volatility_scale: Annotated[
        float | None, typer.Option(help=described(P, "volatility_scale"))
    ] = None,
    file: Annotated[
        list[Path] | None, typer.Option("--file", "-f", help="Replay: a file to read (repeatable).")
    ] = None,
    coinbase_url: Annotated[str | None, typer.Option(help=described(P, "coinbase_url"))] = None,
    metrics_port: Annotated[int | None, typer.Option(help=described(P, "metrics_port"))] = None,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help=described(P, "progress"))
    ] = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Publish ticks to the ticks topic from a synthetic market, files or Coinbase.

    Examples: `volstream produce --count 100000 --rate 0` (as fast as possible);
    `volstream produce --source replay -f capture.ndjson --speed 10`.
    """
    settings = load(
        ProducerSettings,
        source=source, rate=rate, speed=speed, count=count, duration_seconds=duration,
        symbols=symbols, seed=seed, path_seed=path_seed, volatility_scale=volatility_scale,
        files=[str(f) for f in file] if file else None, coinbase_url=coinbase_url,
        metrics_port=metrics_port, progress=progress,
    )  # fmt: skip
    kafka = load(KafkaSettings, bootstrap=bootstrap)
    summary = run_producer(kafka, settings, install_stop_handlers())
    typer.echo(summary.line())
    if summary.failed:
        raise typer.Exit(1)


def run_producer(
    kafka: KafkaSettings, settings: ProducerSettings, stop: threading.Event
) -> ProduceSummary:
    """Run the producer with a progress display when a person is watching."""
    from volstream.producer.main import run  # services load only when their command runs

    with progress_display(settings) as advance:
        return run(kafka, settings, stop, progress=advance)


@contextmanager
def progress_display(settings: ProducerSettings) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on a terminal (None elsewhere, where logs tell the story)."""
    if not (settings.progress and sys.stderr.isatty()):
        yield None
        return
    columns = [
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn() if settings.count else TextColumn(""),
        TextColumn("{task.completed:,.0f} ticks"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(f"producing ({settings.source})", total=settings.count, rate="")

        def advance(n: int) -> None:
            bar.advance(task, n)
            speed = bar.tasks[task].speed
            bar.update(task, rate=f"{speed:,.0f}/s" if speed else "")

        yield advance
