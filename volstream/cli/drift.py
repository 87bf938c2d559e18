"""``volstream drift``."""

from __future__ import annotations

from typing import Annotated

import typer

from volstream.cli.kafka import Bootstrap
from volstream.cli.models import Registry
from volstream.cli.options import described
from volstream.lifecycle import install_stop_handlers
from volstream.settings import DriftSettings, KafkaSettings, ModelSettings, load

D = DriftSettings


def drift(
    once: Annotated[bool, typer.Option("--once", help="Run one pass and exit.")] = False,
    pushgateway: Annotated[
        str | None,
        typer.Option(help="With --once: push the gauges to this Prometheus Pushgateway URL."),
    ] = None,
    interval: Annotated[
        float | None, typer.Option("--interval", help=described(D, "interval_seconds"))
    ] = None,
    window_minutes: Annotated[
        float | None, typer.Option(help=described(D, "window_minutes"))
    ] = None,
    window_rows: Annotated[int | None, typer.Option(help=described(D, "window_rows"))] = None,
    reports_dir: Annotated[str | None, typer.Option(help=described(D, "reports_dir"))] = None,
    metrics_port: Annotated[int | None, typer.Option(help=described(D, "metrics_port"))] = None,
    registry: Registry = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Compare recent predictions' features with the model's training reference (Evidently).

    Publishes drift gauges on /metrics and writes an HTML report and a JSON
    summary per pass (latest.html, latest.json). Example: `volstream drift --once`.
    """
    stop = install_stop_handlers()  # before Evidently's slow import: a SIGTERM then is clean too
    from volstream.drift.main import run

    if pushgateway and not once:
        msg = "--pushgateway needs --once"
        raise typer.BadParameter(msg, param_hint="--pushgateway")
    settings = load(
        DriftSettings, interval_seconds=interval, window_minutes=window_minutes,
        window_rows=window_rows, reports_dir=reports_dir, metrics_port=metrics_port,
    )  # fmt: skip
    model = load(ModelSettings, registry=registry)
    run(load(KafkaSettings, bootstrap=bootstrap), settings, model, stop, once=once,
        pushgateway=pushgateway)  # fmt: skip
