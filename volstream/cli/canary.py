"""``volstream canary``."""

from __future__ import annotations

from typing import Annotated

import typer

from volstream.cli.kafka import Bootstrap
from volstream.cli.options import described
from volstream.lifecycle import install_stop_handlers
from volstream.settings import CanarySettings, KafkaSettings, load

C = CanarySettings


def canary(
    interval: Annotated[
        float | None, typer.Option(help=described(C, "interval_seconds"), metavar="SECONDS")
    ] = None,
    deadline: Annotated[
        float | None, typer.Option(help=described(C, "deadline_seconds"), metavar="SECONDS")
    ] = None,
    metrics_port: Annotated[int | None, typer.Option(help=described(C, "metrics_port"))] = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Send a marker tick through every partition and time its way back.

    Each marker crosses the broker, the consumer's decode, inference and publish,
    and comes back as an echo on the canary topic; it never changes a feature or
    reaches a prediction reader. Exports the round trip and markers sent, received
    and lost (docs/canary.md). Run one per cluster. Example: `volstream canary --interval 5`.
    """
    from volstream.canary.main import run

    settings = load(CanarySettings, interval_seconds=interval, deadline_seconds=deadline,
                    metrics_port=metrics_port)  # fmt: skip
    canary = run(load(KafkaSettings, bootstrap=bootstrap), settings, install_stop_handlers())
    typer.echo(canary.line())
