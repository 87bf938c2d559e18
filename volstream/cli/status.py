"""``volstream status``."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live

from volstream.settings import (
    ApiSettings,
    CanarySettings,
    ConsumerSettings,
    DriftSettings,
    EvaluateSettings,
    ProducerSettings,
    load,
)


def _local(port: int, path: str = "/metrics") -> str:
    return f"http://127.0.0.1:{port}{path}"


def status(
    once: Annotated[bool, typer.Option("--once", help="Print one view and exit.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between two views.", min=0.5)] = 2.0,
    producer: Annotated[str | None, typer.Option(help="Producer /metrics URL.")] = None,
    consumer: Annotated[str | None, typer.Option(help="Consumer /metrics URL.")] = None,
    api: Annotated[str | None, typer.Option(help="API /metrics URL.")] = None,
    drift: Annotated[str | None, typer.Option(help="Drift job /metrics URL.")] = None,
    evaluator: Annotated[str | None, typer.Option(help="Evaluator /metrics URL.")] = None,
    canary: Annotated[str | None, typer.Option(help="Canary /metrics URL.")] = None,
) -> None:
    """Show the running pipeline: rates, latency percentiles, SLOs, lag, live model quality,
    and the canary's round trip.

    Reads each service's /metrics (by default on this machine, at the ports the
    settings give, as `make demo` runs them). Ctrl-C stops it.
    """
    from volstream.status import render, scrape_all

    endpoints = {
        "producer": producer or _local(load(ProducerSettings).metrics_port),
        "consumer": consumer or _local(load(ConsumerSettings).metrics_port),
        "api": api or _local(load(ApiSettings).port),
        "drift": drift or _local(load(DriftSettings).metrics_port),
        "evaluator": evaluator or _local(load(EvaluateSettings).metrics_port),
        "canary": canary or _local(load(CanarySettings).metrics_port),
    }
    console = Console()
    before = scrape_all(endpoints)
    if once:
        time.sleep(interval)
        console.print(render(before, scrape_all(endpoints)))
        return
    with Live(console=console, auto_refresh=False) as live:
        while True:
            time.sleep(interval)
            now = scrape_all(endpoints)
            live.update(render(before, now), refresh=True)
            before = now
