"""The panel queries of the Grafana dashboards, made runnable outside Grafana."""

from __future__ import annotations

import json

from volstream import dashboards

#: Grafana's variables, as Grafana would expand them for the test stacks.
VARIABLES = {"$__rate_interval": "1m", "$instance": ".*"}


def runnable(expr: str) -> str:
    for variable, value in VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, expression with variables expanded) of every panel query."""
    found = []
    for name in dashboards.DASHBOARDS:
        board = json.loads(dashboards.path(name).read_text())
        found += [(name, title, runnable(expr)) for title, expr in dashboards.queries(board)]
    return found
