"""The dashboards' panels, made with Grafana's own SDK (grafana-foundation-sdk, Grafana 11.3
build): the helpers here only give every dashboard the same look."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final, cast

from grafana_foundation_sdk.builders import bargauge as bargauge_builders
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import heatmap as heatmap_builders
from grafana_foundation_sdk.builders import prometheus
from grafana_foundation_sdk.builders import stat as stat_builders
from grafana_foundation_sdk.builders import statetimeline as statetimeline_builders
from grafana_foundation_sdk.builders import table as table_builders
from grafana_foundation_sdk.builders import timeseries as timeseries_builders
from grafana_foundation_sdk.cog import builder as cog
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import heatmap as heatmap_models
from grafana_foundation_sdk.models import prometheus as prometheus_models

#: The datasource provisioned by docker/grafana/provisioning/datasources.
DATASOURCE: Final = {"type": "prometheus", "uid": "prometheus"}
RATE: Final = "$__rate_interval"
_SOURCE: Final = models.DataSourceRef(type_val=DATASOURCE["type"], uid=DATASOURCE["uid"])

Panel = cog.Builder[models.Panel]
Query = prometheus.Dataquery
Thresholds = Sequence[tuple[str, float | None]]
States = dict[int, tuple[str, str]]  # value -> (text, colour)


def red_from(limit: float) -> Thresholds:
    """Green below ``limit``, red from it."""
    return (("green", None), ("red", limit))


def target(expr: str, legend: str = "", *, instant: bool = False, heatmap: bool = False) -> Query:
    """One Prometheus query of a panel."""
    query = Query().expr(expr).legend_format(legend or "__auto").datasource(_SOURCE)
    if instant:
        query = query.instant().format(prometheus_models.PromQueryFormat.TABLE)
    if heatmap:
        query = query.format(prometheus_models.PromQueryFormat.HEATMAP)
    return query


def _thresholds(steps: Thresholds) -> dashboard_builders.ThresholdsConfig:
    return (
        dashboard_builders.ThresholdsConfig()
        .mode(models.ThresholdsMode.ABSOLUTE)
        .steps([models.Threshold(value=v, color=c) for c, v in steps])
    )


def _mappings(states: States) -> list[models.ValueMapping]:
    results = {str(value): models.ValueMappingResult(text=text, color=color, index=i)
               for i, (value, (text, color)) in enumerate(states.items())}  # fmt: skip
    return [models.ValueMap(options=results)]


def _legend() -> common_builders.VizLegendOptions:
    return (
        common_builders.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.LIST)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
    )


def _last_value() -> common_builders.ReduceDataOptions:
    return common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def _common(panel: Any, title: str, description: str, queries: Sequence[Query],
            size: tuple[int, int]) -> Panel:  # fmt: skip
    """What every panel has: title, description, datasource, size, queries A, B, C...
    (``panel`` is any of the SDK's panel builders: they share these methods.)"""
    for ref, query in zip("ABCDEFGHIJ", queries, strict=False):
        query.ref_id(ref)
    return cast(Panel, panel.title(title).description(description).datasource(_SOURCE)
                .span(size[0]).height(size[1]).targets(list(queries)))  # fmt: skip


def timeseries(
    title: str,
    description: str,
    queries: Sequence[Query],
    unit: str = "short",
    *,
    lines: Thresholds = (),
    stack: bool = False,
    width: int = 12,
) -> Panel:
    """A time series; ``lines`` draws threshold lines (e.g. an SLO target)."""
    panel = (
        timeseries_builders.Panel()
        .unit(unit)
        .fill_opacity(40 if stack else 10)
        .show_points(common.VisibilityMode.NEVER)
        .span_nulls(True)
        .thresholds(_thresholds(lines or (("green", None),)))
        .legend(_legend())
        .tooltip(
            common_builders.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )  # fmt: skip
    )
    if stack:
        panel = panel.stacking(
            common_builders.StackingConfig().mode(common.StackingMode.NORMAL).group("A")
        )
    if lines:
        panel = panel.thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.LINE)
        )
    return _common(panel, title, description, queries, (width, 8))


def stat(
    title: str,
    description: str,
    expr: str,
    unit: str = "short",
    *,
    thresholds: Thresholds = (("green", None),),
    mappings: States | None = None,
    legend: str = "",
    decimals: int | None = None,
    height: int = 4,
) -> Panel:
    """One number, coloured by ``thresholds`` (or by ``mappings`` for states)."""
    panel = (
        stat_builders.Panel()
        .unit(unit)
        .thresholds(_thresholds(thresholds))
        .mappings(_mappings(mappings) if mappings else [])
        .reduce_options(_last_value())
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .text_mode(common.BigValueTextMode.NAME if legend else common.BigValueTextMode.VALUE)
        .justify_mode(common.BigValueJustifyMode.CENTER)
    )
    if decimals is not None:
        panel = panel.decimals(decimals)
    return _common(panel, title, description, [target(expr, legend)], (4, height))


def state_timeline(title: str, description: str, expr: str, legend: str, states: States) -> Panel:
    """One band per series, coloured by state."""
    panel = (
        statetimeline_builders.Panel()
        .mappings(_mappings(states))
        .fill_opacity(80)
        .thresholds(_thresholds((("green", None),)))
        .show_value(common.VisibilityMode.NEVER)
        .merge_values(True)
        .row_height(0.8)
        .legend(_legend())
    )
    return _common(panel, title, description, [target(expr, legend)], (12, 8))


def bar_gauge(title: str, description: str, expr: str, legend: str, unit: str) -> Panel:
    """The latest value of each series as a horizontal bar."""
    panel = (
        bargauge_builders.Panel()
        .unit(unit)
        .min(0)
        .thresholds(_thresholds((("green", None),)))
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .show_unfilled(True)
        .reduce_options(_last_value())
    )
    query = target(expr, legend, instant=True)
    return _common(panel, title, description, [query], (12, 8))


def heatmap(title: str, description: str, expr: str) -> Panel:
    """Histogram buckets over time (``expr`` sums increases by ``le``)."""
    panel = (
        heatmap_builders.Panel()
        .calculate(False)
        .y_axis(heatmap_builders.YAxisConfig().axis_placement(common.AxisPlacement.LEFT))
        .color(
            heatmap_builders.HeatmapColorOptions()
            .mode(heatmap_models.HeatmapColorMode.SCHEME)
            .scheme("Oranges")
            .steps(64)
        )  # fmt: skip
        .cell_gap(1)
        .mode(common.TooltipDisplayMode.SINGLE)
        .show_y_histogram()
    )
    query = target(expr, "{{le}}", heatmap=True)
    return _common(panel, title, description, [query], (12, 8))


def table(title: str, description: str, expr: str) -> Panel:
    """The labels of the series ``expr`` returns now, one row each."""
    hidden = {"excludeByName": {"Time": True, "Value": True}}
    panel = table_builders.Panel().with_transformation(
        models.DataTransformerConfig(id_val="organize", options=hidden)
    )
    query = target(expr, instant=True)
    return _common(panel, title, description, [query], (12, 8))


def quantile(metric: str, selector: str, q: float, by: str = "") -> str:
    """``histogram_quantile(q, ...)`` of ``metric``'s buckets, summed by ``le`` (and ``by``)."""
    group = f"le, {by}" if by else "le"
    buckets = f"rate({metric}_bucket{{{selector}}}[{RATE}])"
    return f"histogram_quantile({q}, sum by ({group}) ({buckets}))"


def quantiles(
    metric: str, selector: str, by: str = "", qs: Sequence[float] = (0.5, 0.9, 0.99)
) -> list[Query]:
    """One histogram_quantile query per quantile, summed by ``le`` (and ``by``)."""
    suffix = f" {{{{{by}}}}}" if by else ""
    return [target(quantile(metric, selector, q, by), f"p{q * 100:g}{suffix}") for q in qs]


def rate(metric: str, selector: str = "", by: str = "") -> str:
    """``sum [by (...)] (rate(metric{selector}[$__rate_interval]))``."""
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({metric}{{{selector}}}[{RATE}]))"


def label_variable(name: str, label: str, metric: str) -> dashboard_builders.QueryVariable:
    """A variable over the values of ``name`` on ``metric``: several, or all (``.*``)."""
    query = f"label_values({metric}, {name})"
    return (
        dashboard_builders.QueryVariable(name)
        .label(label)
        .datasource(_SOURCE)
        .query({"query": query, "refId": name})
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .include_all(True)
        .multi(True)
        .all_value(".*")
        .current(models.VariableOption(text="All", value="$__all"))
        .sort(models.VariableSort.ALPHABETICAL_ASC)
    )


def dashboard(
    uid: str,
    title: str,
    sections: dict[str, list[Panel]],
    variables: Sequence[dashboard_builders.QueryVariable] = (),
    time_from: str = "now-1h",
) -> str:
    """A dashboard whose sections are rows, panels flowing left to right beneath each; its
    JSON text. Panels are numbered 1, 2, 3... in order."""
    board = (
        dashboard_builders.Dashboard(title)
        .uid(uid)
        .tags(["volstream"])
        .timezone("browser")
        .readonly()
        .tooltip(models.DashboardCursorSync.CROSSHAIR)
        .refresh("10s")
        .version(1)
        .time(time_from, "now")
        .link(
            dashboard_builders.DashboardLink("volstream")
            .type(models.DashboardLinkType.DASHBOARDS)
            .tags(["volstream"])
        )  # fmt: skip
    )
    for variable in variables:
        board = board.with_variable(variable)
    for section, panels in sections.items():
        board = board.with_row(dashboard_builders.Row(section))
        for panel in panels:
            board = board.with_panel(panel)
    built = board.build()
    for number, placed in enumerate(built.panels or [], start=1):
        placed.id_val = number
    return json.dumps(built, cls=JSONEncoder, indent=2, ensure_ascii=False) + "\n"
