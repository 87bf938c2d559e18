"""``volstream evaluate``."""

from __future__ import annotations

from typing import Annotated

import typer

from volstream.cli.kafka import Bootstrap
from volstream.cli.models import Registry
from volstream.cli.options import described
from volstream.lifecycle import install_stop_handlers
from volstream.settings import EvaluateSettings, KafkaSettings, ModelSettings, load

E = EvaluateSettings


def evaluate(
    windows: Annotated[str | None, typer.Option(help=described(E, "windows"))] = None,
    horizon: Annotated[
        float | None, typer.Option(help=described(E, "horizon_seconds"), metavar="SECONDS")
    ] = None,
    stop_at_end: Annotated[
        bool | None, typer.Option("--stop-at-end", help=described(E, "stop_at_end"))
    ] = None,
    metrics_port: Annotated[int | None, typer.Option(help=described(E, "metrics_port"))] = None,
    registry: Registry = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Judge each prediction once its horizon has passed: outcomes and live quality.

    Publishes one outcome per prediction to the outcomes topic and exports PR-AUC,
    precision, recall, F1, Brier score and calibration by model version over
    sliding windows. Run one per cluster. Example: `volstream evaluate --windows 15m,1h`.
    """
    from volstream.evaluator.main import run

    settings = load(
        EvaluateSettings, windows=windows, horizon_seconds=horizon, stop_at_end=stop_at_end,
        metrics_port=metrics_port,
    )  # fmt: skip
    model = load(ModelSettings, registry=registry)
    summary = run(load(KafkaSettings, bootstrap=bootstrap), settings, model,
                  install_stop_handlers())  # fmt: skip
    typer.echo(summary.line())
