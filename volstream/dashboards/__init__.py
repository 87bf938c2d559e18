"""The Grafana dashboards of docker/grafana/dashboards, generated from this package.

``make dashboards`` (``python -m volstream.dashboards``) rewrites the JSON
files; a test fails when a committed file differs from what this package
generates, and every panel query is parsed by promtool and run against a live
Prometheus (tests/integration/test_local_prometheus.py). Three dashboards:
Pipeline, SLO, and Model & drift; docs/dashboards.md describes them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from volstream.dashboards.model import model
from volstream.dashboards.panels import DATASOURCE
from volstream.dashboards.pipeline import pipeline
from volstream.dashboards.slo import SLOS, slo

__all__ = ["DASHBOARDS", "DATASOURCE", "SLOS", "path", "queries", "render", "write_all"]

DASHBOARD_DIR: Final = Path(__file__).resolve().parents[2] / "docker" / "grafana" / "dashboards"

DASHBOARDS: Final[dict[str, Callable[[], str]]] = {
    "pipeline": pipeline,
    "slo": slo,
    "model": model,
}


def render(name: str) -> str:
    """The file text of dashboard ``name``."""
    return DASHBOARDS[name]()


def path(name: str) -> Path:
    """Where the JSON file of dashboard ``name`` lives."""
    return DASHBOARD_DIR / f"{name}.json"


def queries(dashboard_json: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expression) of every query of a dashboard."""
    return [
        (panel["title"], query["expr"])
        for panel in dashboard_json["panels"]
        for query in panel.get("targets", [])
    ]


def write_all() -> None:
    """Rewrite every dashboard file from this module."""
    DASHBOARD_DIR.mkdir(parents=True, exist_ok=True)
    for name in DASHBOARDS:
        path(name).write_text(render(name))
