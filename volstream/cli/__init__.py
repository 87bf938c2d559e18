"""The ``volstream`` command line: one entry point for every service and tool."""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from volstream.cli import (
    api,
    canary,
    consume,
    demo,
    drift,
    evaluate,
    kafka,
    models,
    produce,
    status,
)
from volstream.errors import VolstreamError
from volstream.logs import setup_logging

__all__ = ["app", "main"]


class _Commands(TyperGroup):
    """The root command: a :class:`VolstreamError` ends a command with one line and exit 1.

    With ``--debug`` the error propagates with its traceback instead.
    """

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]  # typer vendors click
        try:
            return super().invoke(ctx)
        except VolstreamError as e:
            if ctx.params.get("debug"):
                raise
            typer.secho(f"volstream: error: {e}", fg=typer.colors.RED, err=True)
            ctx.exit(1)


app = typer.Typer(
    cls=_Commands,
    name="volstream",
    help="Kafka stream-processing pipeline that predicts short-horizon volatility spikes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _main(
    log_level: Annotated[
        str, typer.Option("--log-level", envvar="VOLSTREAM_LOG_LEVEL", help="DEBUG, INFO, WARNING.")
    ] = "INFO",
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    """Settings come from VOLSTREAM_* environment variables and .env; options override them."""
    if log_level.upper() not in logging.getLevelNamesMapping():
        msg = f"unknown log level {log_level!r}"
        raise typer.BadParameter(msg, param_hint="--log-level")
    setup_logging(log_level)


app.command("broker")(kafka.broker)
app.add_typer(kafka.topics_app, name="topics")
app.command("produce")(produce.produce)
app.command("consume")(consume.consume)
app.command("lag")(consume.lag)
app.command("train")(models.train)
app.add_typer(models.models_app, name="models")
app.command("api")(api.api)
app.command("drift")(drift.drift)
app.command("evaluate")(evaluate.evaluate)
app.command("canary")(canary.canary)
app.command("status")(status.status)
app.command("demo")(demo.demo)


def main() -> None:
    """Run the command line; Ctrl-C outside a service's own handling exits 130."""
    try:
        app()
    except KeyboardInterrupt:
        typer.secho("volstream: interrupted", err=True)
        sys.exit(130)
