"""``volstream train`` and ``volstream models``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from volstream.cli.options import described
from volstream.settings import DriftSettings, ModelSettings, TrainSettings, load

T = TrainSettings
Report = Callable[[str, int, int | None], None]
console = Console()
models_app = typer.Typer(
    help="List, inspect, promote and roll back model versions.", no_args_is_help=True
)
Registry = Annotated[
    Path | None, typer.Option("--registry", help=described(ModelSettings, "registry"))
]


def train(
    source: Annotated[str | None, typer.Option(help=described(T, "source"))] = None,
    file: Annotated[
        list[Path] | None,
        typer.Option("--file", "-f", help="Replay: a tick file or Coinbase capture (repeatable)."),
    ] = None,
    duration: Annotated[
        float | None, typer.Option(help=described(T, "duration_seconds"), metavar="SECONDS")
    ] = None,
    symbols: Annotated[int | None, typer.Option(help=described(T, "symbols"))] = None,
    tick_rate: Annotated[float | None, typer.Option(help=described(T, "tick_rate"))] = None,
    seed: Annotated[int | None, typer.Option(help=described(T, "seed"))] = None,
    horizon: Annotated[
        float | None, typer.Option(help=described(T, "horizon_seconds"), metavar="SECONDS")
    ] = None,
    quantile: Annotated[float | None, typer.Option(help=described(T, "label_quantile"))] = None,
    promote: Annotated[
        bool | None, typer.Option("--promote/--no-promote", help=described(T, "promote"))
    ] = None,
    registry: Registry = None,
) -> None:
    """Train a LightGBM volatility-spike model and its baseline, and register the version.

    The history (a synthetic market by default) is replayed through the same
    feature engine the consumer runs; the split is by time with a gap of one
    horizon between train, validation and test. Example: `volstream train --duration 3600`.
    """
    from volstream.model.training import train as run_training

    settings = load(
        TrainSettings, source=source, files=[str(f) for f in file] if file else None,
        duration_seconds=duration, symbols=symbols, tick_rate=tick_rate, seed=seed,
        horizon_seconds=horizon, label_quantile=quantile, promote=promote,
    )  # fmt: skip
    model = load(ModelSettings, registry=registry)
    drift = load(DriftSettings)  # its window settings size the drift calibration
    with progress_bars() as report:
        version = run_training(settings, model, report, drift)
    test = version.metadata["metrics"]["test"]
    table = Table("test part", "PR-AUC", "precision", "recall", "F1", "Brier", title=version.name)
    for variant in ("model", "baseline"):
        m = test[variant]
        table.add_row(
            variant, *(f"{m[k]:.4f}" for k in ("pr_auc", "precision", "recall", "f1", "brier"))
        )
    console.print(table)
    current = " (now current)" if settings.promote else ""
    typer.echo(f"model {version.name} written to {version.path}{current}")


@contextmanager
def progress_bars() -> Iterator[Report]:
    """A progress callback (stage, done, total): bars on a terminal, silent elsewhere."""
    if not sys.stderr.isatty():
        yield lambda stage, done, total: None
        return
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=Console(stderr=True)) as bars:
        tasks: dict[str, TaskID] = {}

        def report(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], completed=done)

        yield report


@models_app.command("list")
def models_list(
    registry: Registry = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the versions, oldest first, marking the current one."""
    from volstream.model.registry import ModelRegistry

    store = ModelRegistry(load(ModelSettings, registry=registry).registry)
    current = store.current_name()
    rows = [
        {
            "version": v.name,
            "current": v.name == current,
            "created_at": v.metadata.get("created_at"),
            "test_pr_auc": v.metadata.get("metrics", {})
            .get("test", {})
            .get("model", {})
            .get("pr_auc"),
        }
        for v in store.versions()
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("", "version", "created at", "test PR-AUC")
    for row in rows:
        auc = row["test_pr_auc"]
        table.add_row("*" if row["current"] else "", str(row["version"]), str(row["created_at"]),
                      f"{auc:.4f}" if auc is not None else "-")  # fmt: skip
    console.print(table)


@models_app.command("show")
def models_show(
    version: Annotated[str, typer.Argument(help="A version name, or 'current'.")] = "current",
    registry: Registry = None,
) -> None:
    """Print a version's metadata (model.json)."""
    from volstream.model.registry import ModelRegistry

    store = ModelRegistry(load(ModelSettings, registry=registry).registry)
    typer.echo(json.dumps(store.get(version).metadata, indent=2))


@models_app.command("promote")
def models_promote(
    version: Annotated[str, typer.Argument(help="The version to serve.")],
    registry: Registry = None,
) -> None:
    """Make a version the current one (services pick it up when they (re)load)."""
    from volstream.model.registry import ModelRegistry

    store = ModelRegistry(load(ModelSettings, registry=registry).registry)
    typer.echo(f"current model: {store.promote(version).name}")


@models_app.command("rollback")
def models_rollback(registry: Registry = None) -> None:
    """Serve the previously promoted version again."""
    from volstream.model.registry import ModelRegistry

    store = ModelRegistry(load(ModelSettings, registry=registry).registry)
    typer.echo(f"rolled back; current model: {store.rollback().name}")


@models_app.command("shadow")
def models_shadow(
    version: Annotated[
        str | None, typer.Argument(help="The challenger to score beside the current version.")
    ] = None,
    stop: Annotated[bool, typer.Option("--stop", help="Stop scoring a challenger.")] = False,
    registry: Registry = None,
) -> None:
    """Score a challenger in shadow on the live stream, never served (or --stop it).

    The evaluator scores it on every prediction's features from within
    VOLSTREAM_MODEL_FOLLOW_SECONDS; its live quality appears under its own
    version. Compare with `volstream models compare`.
    """
    from volstream.model.registry import ModelRegistry

    if (version is None) == (not stop):
        msg = "give a VERSION, or --stop"
        raise typer.BadParameter(msg)
    store = ModelRegistry(load(ModelSettings, registry=registry).registry)
    shadow = store.set_shadow(None if stop else version)
    typer.echo(f"shadow model: {shadow.name}" if shadow else "no shadow model")


@models_app.command("compare")
def models_compare(
    url: Annotated[
        str | None, typer.Option(help="The evaluator's /metrics; default: on this machine.")
    ] = None,
    window: Annotated[str, typer.Option(help="Which quality window, e.g. 15m or 1h.")] = "15m",
) -> None:
    """Live quality of every model over a window: the served one, its baseline, a challenger.

    Read from `volstream evaluate`'s metrics; promotion stays a human command
    (`volstream models promote VERSION`).
    """
    from volstream.settings import EvaluateSettings
    from volstream.status import quality_rows, scrape

    url = url or f"http://127.0.0.1:{load(EvaluateSettings).metrics_port}/metrics"
    samples = scrape(url)
    if samples is None:
        msg = f"nothing answers at {url}: is `volstream evaluate` running?"
        raise typer.BadParameter(msg,
                                 param_hint="--url")  # fmt: skip
    rows = quality_rows(samples, window)
    if not rows:
        typer.echo(f"no outcomes in the {window} window yet")
        return
    table = Table("role", "version", "variant", "outcomes", "PR-AUC", "precision", "recall", "F1",
                  "Brier", "base rate", title=f"live quality, last {window}")  # fmt: skip
    for row in rows:
        table.add_row(row.role, row.version, row.variant, f"{row.outcomes:,.0f}",
                      *(_figure(getattr(row, k)) for k in
                        ("pr_auc", "precision", "recall", "f1", "brier", "base_rate")))  # fmt: skip
    console.print(table)


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
