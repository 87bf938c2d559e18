"""``volstream api``."""

from __future__ import annotations

from typing import Annotated

import typer

from volstream.cli.kafka import Bootstrap
from volstream.cli.models import Registry
from volstream.cli.options import described
from volstream.settings import (
    ApiSettings,
    DeviceSettings,
    DriftSettings,
    KafkaSettings,
    ModelSettings,
    load,
)

A = ApiSettings


def api(
    host: Annotated[str | None, typer.Option(help=described(A, "host"))] = None,
    port: Annotated[int | None, typer.Option(help=described(A, "port"))] = None,
    max_rows: Annotated[int | None, typer.Option(help=described(A, "max_rows"))] = None,
    variant: Annotated[str | None, typer.Option(help=described(ModelSettings, "variant"))] = None,
    registry: Registry = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Serve on-demand predictions over HTTP (OpenAPI docs at /docs, metrics at /metrics).

    Example: `curl -s localhost:8000/predict/SYN-000`. Ctrl-C stops it.
    """
    from volstream.api.main import run

    settings = load(ApiSettings, host=host, port=port, max_rows=max_rows)
    model = load(ModelSettings, registry=registry, variant=variant)
    kafka = load(KafkaSettings, bootstrap=bootstrap)
    run(settings, model, kafka, load(DriftSettings).reports_dir, load(DeviceSettings))
