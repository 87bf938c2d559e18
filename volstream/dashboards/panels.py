"""Panel builders shared by the dashboards: each returns Grafana 11 dashboard JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

#: The datasource provisioned by docker/grafana/provisioning/datasources.
DATASOURCE: Final = {"type": "prometheus", "uid": "prometheus"}
RATE: Final = "$__rate_interval"
LEGEND: Final = {"displayMode": "list", "placement": "bottom", "showLegend": True}
LAST_VALUE: Final = {"calcs": ["lastNotNull"], "fields": "", "values": False}

LINKS: Final = {"title": "volstream", "type": "dashboards", "tags": ["volstream"]}

Panel = dict[str, Any]
Thresholds = Sequence[tuple[str, float | None]]


def red_from(limit: float) -> Thresholds:
    """Green below ``limit``, red from it."""
    return (("green", None), ("red", limit))


def target(expr: str, legend: str = "", *, instant: bool = False, heatmap: bool = False) -> Panel:
    """One Prometheus query of a panel."""
    query: Panel = {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend or "__auto"}
    if instant:
        query |= {"instant": True, "range": False, "format": "table"}
    if heatmap:
        query["format"] = "heatmap"
    return query


def _panel(
    kind: str,
    title: str,
    description: str,
    targets: Sequence[Panel],
    size: tuple[int, int],
    defaults: Panel,
    options: Panel,
) -> Panel:
    for ref, query in zip("ABCDEFGHIJ", targets, strict=False):
        query["refId"] = ref
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"w": size[0], "h": size[1]},
        "targets": list(targets),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
    }


def _thresholds(steps: Thresholds) -> Panel:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


def _mappings(texts: dict[int, tuple[str, str]]) -> list[Panel]:
    options = {
        str(value): {"text": text, "color": color, "index": i}
        for i, (value, (text, color)) in enumerate(texts.items())
    }
    return [{"type": "value", "options": options}]


def timeseries(
    title: str,
    description: str,
    targets: Sequence[Panel],
    unit: str = "short",
    *,
    lines: Thresholds = (),
    stack: bool = False,
    width: int = 12,
) -> Panel:
    """A time series; ``lines`` draws threshold lines (e.g. an SLO target)."""
    custom: Panel = {"fillOpacity": 10, "showPoints": "never", "spanNulls": True}
    if stack:
        custom |= {"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 40}
    if lines:
        custom["thresholdsStyle"] = {"mode": "line"}
    defaults = {"unit": unit, "custom": custom,
                "thresholds": _thresholds(lines or (("green", None),))}  # fmt: skip
    options = {"legend": LEGEND, "tooltip": {"mode": "multi", "sort": "desc"}}
    return _panel("timeseries", title, description, targets, (width, 8), defaults, options)


def stat(
    title: str,
    description: str,
    expr: str,
    unit: str = "short",
    *,
    thresholds: Thresholds = (("green", None),),
    mappings: dict[int, tuple[str, str]] | None = None,
    legend: str = "",
    decimals: int | None = None,
    height: int = 4,
) -> Panel:
    """One number, coloured by ``thresholds`` (or by ``mappings`` for states)."""
    defaults: Panel = {"unit": unit, "thresholds": _thresholds(thresholds),
                       "mappings": _mappings(mappings) if mappings else []}  # fmt: skip
    if decimals is not None:
        defaults["decimals"] = decimals
    options = {"reduceOptions": LAST_VALUE, "colorMode": "background", "graphMode": "none",
               "textMode": "name" if legend else "value", "justifyMode": "center"}  # fmt: skip
    return _panel("stat", title, description, [target(expr, legend)], (4, height), defaults,
                  options)  # fmt: skip


def state_timeline(
    title: str, description: str, expr: str, legend: str, states: dict[int, tuple[str, str]]
) -> Panel:
    """One band per series, coloured by state."""
    defaults = {"mappings": _mappings(states), "custom": {"fillOpacity": 80},
                "thresholds": _thresholds((("green", None),))}  # fmt: skip
    options = {"showValue": "never", "mergeValues": True, "rowHeight": 0.8, "legend": LEGEND}
    return _panel("state-timeline", title, description, [target(expr, legend)], (12, 8),
                  defaults, options)  # fmt: skip


def bar_gauge(title: str, description: str, expr: str, legend: str, unit: str) -> Panel:
    """The latest value of each series as a horizontal bar."""
    defaults = {"unit": unit, "min": 0, "thresholds": _thresholds((("green", None),))}
    options = {"orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
               "reduceOptions": LAST_VALUE}  # fmt: skip
    return _panel("bargauge", title, description, [target(expr, legend, instant=True)], (12, 8),
                  defaults, options)  # fmt: skip


def heatmap(title: str, description: str, expr: str) -> Panel:
    """Histogram buckets over time (``expr`` sums increases by ``le``)."""
    options = {"calculate": False, "yAxis": {"axisPlacement": "left"},
               "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
               "cellGap": 1, "tooltip": {"mode": "single", "yHistogram": True}}  # fmt: skip
    return _panel("heatmap", title, description, [target(expr, "{{le}}", heatmap=True)],
                  (12, 8), {}, options)  # fmt: skip


def table(title: str, description: str, expr: str) -> Panel:
    """The labels of the series ``expr`` returns now, one row each."""
    hidden = {"excludeByName": {"Time": True, "Value": True}}
    transformations = [{"id": "organize", "options": hidden}]
    panel = _panel("table", title, description, [target(expr, instant=True)], (12, 8), {}, {})
    return panel | {"transformations": transformations}


def quantiles(
    metric: str, selector: str, by: str = "", qs: Sequence[float] = (0.5, 0.9, 0.99)
) -> list[Panel]:
    """histogram_quantile targets, one per quantile, summed by ``le`` (and ``by``)."""
    group = f"le, {by}" if by else "le"
    suffix = f" {{{{{by}}}}}" if by else ""
    return [
        target(f"histogram_quantile({q}, sum by ({group}) "
               f"(rate({metric}_bucket{{{selector}}}[{RATE}])))", f"p{q * 100:g}{suffix}")
        for q in qs
    ]  # fmt: skip


def rate(metric: str, selector: str = "", by: str = "") -> str:
    """``sum [by (...)] (rate(metric{selector}[$__rate_interval]))``."""
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({metric}{{{selector}}}[{RATE}]))"


def dashboard(
    uid: str,
    title: str,
    sections: dict[str, list[Panel]],
    variables: list[Panel],
    time_from: str = "now-1h",
) -> Panel:
    """A dashboard whose sections are rows, panels flowing left to right beneath each."""
    panels: list[Panel] = []
    y = 0
    for section, members in sections.items():
        panels.append({"type": "row", "title": section, "collapsed": False, "panels": [],
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})  # fmt: skip
        y += 1
        x = line_height = 0
        for panel in members:
            w, h = panel["gridPos"]["w"], panel["gridPos"]["h"]
            if x + w > 24:
                x, y, line_height = 0, y + line_height, 0
            panel["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
            x, line_height = x + w, max(line_height, h)
            panels.append(panel)
        y += line_height
    for number, panel in enumerate(panels, start=1):
        panel["id"] = number
    return {
        "uid": uid,
        "title": title,
        "tags": ["volstream"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "10s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": time_from, "to": "now"},
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [LINKS],
        "panels": panels,
    }
