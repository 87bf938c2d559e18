"""The Grafana dashboards of docker/grafana/dashboards, generated from this module.

``make dashboards`` (``python -m volstream.dashboards``) rewrites the JSON
files; a test fails when a committed file differs from what this module
generates, and every panel query is parsed by promtool and run against a live
Prometheus (tests/integration/test_local_prometheus.py). Three dashboards:
Pipeline, SLO, and Model & drift; docs/dashboards.md describes them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = ["DASHBOARDS", "DATASOURCE", "SLOS", "path", "queries", "render", "write_all"]

DASHBOARD_DIR: Final = Path(__file__).resolve().parent.parent / "docker" / "grafana" / "dashboards"
#: The datasource provisioned by docker/grafana/provisioning/datasources.
DATASOURCE: Final = {"type": "prometheus", "uid": "prometheus"}
RATE: Final = "$__rate_interval"
LEGEND: Final = {"displayMode": "list", "placement": "bottom", "showLegend": True}
LAST_VALUE: Final = {"calcs": ["lastNotNull"], "fields": "", "values": False}
CONSUMER: Final = 'instance=~"$instance"'

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


# Pipeline ---------------------------------------------------------------------------------------

LAG_STATES: Final = {0: ("ok", "green"), 1: ("warning", "yellow"), 2: ("stalled", "orange"),
                     3: ("stopped", "red")}  # fmt: skip
PARTITION: Final = "{{topic}}/{{partition}}"


def pipeline() -> Panel:
    """Ticks in and out, latency, stage times, batches, lag per partition, dead letters, GPU."""
    e2e = "volstream_consumer_end_to_end_latency_seconds"
    stage = "volstream_consumer_batch_stage_seconds"
    working = CONSUMER + ', stage!="poll"'
    sections = {
        "Overview": [
            stat("Ticks in", "Ticks the broker acknowledged to the producer.",
                 rate("volstream_producer_ticks_total"), "suffix: ticks/s"),
            stat("Predictions out", "Predictions the broker acknowledged to the consumers.",
                 rate("volstream_consumer_predictions_total", CONSUMER), "suffix: /s"),
            stat("Dead-lettered", "Ticks sent to the dead-letter topic (any reason).",
                 rate("volstream_consumer_rejected_total", CONSUMER), "suffix: /s",
                 thresholds=(("green", None), ("yellow", 0.001), ("red", 1))),
            stat("Committed lag", "High watermark minus committed offset, summed over partitions.",
                 f"sum(volstream_consumer_lag_records{{{CONSUMER}}})", "short",
                 thresholds=red_from(10_000)),
            stat("Largest time lag", "The freshness SLI: now minus the event time of the oldest "
                 "unprocessed tick, worst partition. The SLO wants it under 5 s.",
                 f"max(volstream_consumer_lag_seconds{{{CONSUMER}}})", "s",
                 thresholds=red_from(5)),
            stat("End-to-end p99", "Event time to the prediction's acknowledgement, 99th "
                 "percentile over the rate interval.",
                 quantiles(e2e, CONSUMER, qs=(0.99,))[0]["expr"], "s", thresholds=red_from(0.1)),
            stat("Consumers up", "Consumer processes Prometheus scrapes successfully.",
                 'sum(up{job="consumer"})', thresholds=(("red", None), ("green", 1))),
            stat("Partitions owned", "Partitions assigned to the selected consumers.",
                 f"sum(volstream_consumer_assigned_partitions{{{CONSUMER}}})"),
            stat("Worst lag health", "Burrow-style state of the worst partition "
                 "(docs/metrics.md#lag-health).",
                 f"max(volstream_consumer_lag_health{{{CONSUMER}}})", mappings=LAG_STATES),
            stat("Catch-up time", "Committed lag divided by the processing rate, worst consumer.",
                 f"max(volstream_consumer_catch_up_seconds{{{CONSUMER}}})", "s",
                 thresholds=red_from(60)),
            stat("Alerts firing", "Prometheus alerts firing now (SLO and pipeline).",
                 'count(ALERTS{alertstate="firing"}) or vector(0)',
                 thresholds=red_from(1)),
            stat("Model", "The model the consumers serve: version, variant, backend.",
                 f"volstream_model_info{{{CONSUMER}}}", thresholds=(("blue", None),),
                 legend="{{version}} {{variant}} {{backend}}"),
        ],
        "Throughput and latency": [
            timeseries("Ticks in and out", "Produced, consumed, predicted, dead-lettered.", [
                target(rate("volstream_producer_ticks_total"), "produced"),
                target(rate("volstream_consumer_consumed_total", CONSUMER), "consumed"),
                target(rate("volstream_consumer_predictions_total", CONSUMER), "predicted"),
                target(rate("volstream_consumer_rejected_total", CONSUMER), "dead-lettered"),
            ], "suffix: ticks/s"),
            timeseries("End-to-end latency", "Event time of a tick to the broker's acknowledgement "
                       "of its prediction.", quantiles(e2e, CONSUMER), "s",
                       lines=red_from(0.1)),
            timeseries("Mean time per batch by stage", "Mean seconds a batch spends in each stage "
                       "(poll, which includes waiting for ticks, left out).", [
                target(f"{rate(f'{stage}_sum', working, 'stage')} / "
                       f"{rate(f'{stage}_count', working, 'stage')}", "{{stage}}"),
            ], "s", stack=True),
            timeseries("Batch size", "Ticks per micro-batch: batches grow under load.",
                       quantiles("volstream_consumer_batch_ticks", CONSUMER), "short"),
            timeseries("Dead letters by reason", "Ticks sent to the dead-letter topic, by the "
                       "reason in their headers (docs/contracts.md).", [
                target(rate("volstream_consumer_rejected_total", CONSUMER, "reason"), "{{reason}}"),
            ], "suffix: /s"),
            timeseries("Commits", "Offset commits acknowledged and failed.", [
                target(rate("volstream_consumer_commits_total", CONSUMER), "commits"),
                target(rate("volstream_consumer_commit_failures_total", CONSUMER), "failures"),
            ], "suffix: /s"),
        ],
        "Lag per partition": [
            timeseries("Committed lag (records)", "High watermark minus the group's committed "
                       "offset; never negative.",
                       [target(f"volstream_consumer_lag_records{{{CONSUMER}}}", PARTITION)]),
            timeseries("Time lag", "Now minus the event time of the next unprocessed tick; 0 when "
                       "caught up.", [target(f"volstream_consumer_lag_seconds{{{CONSUMER}}}",
                                             PARTITION)], "s", lines=red_from(5)),
            timeseries("Position lag (records)", "High watermark minus what this process read.", [
                target(f"volstream_consumer_position_lag_records{{{CONSUMER}}}", PARTITION),
            ]),
            state_timeline("Lag health", "ok, warning (lag grows while committing), stalled "
                           "(no commit while lag > 0), stopped (no commit for too long).",
                           f"volstream_consumer_lag_health{{{CONSUMER}}}", PARTITION, LAG_STATES),
            timeseries("Since last progress and last event", "Seconds since the committed offset "
                       "last moved, and since the event time of the last tick: a stuck consumer "
                       "has the first grow; a silent source has both grow.", [
                target(f"time() - volstream_consumer_last_progress_time_seconds{{{CONSUMER}}}",
                       f"progress {PARTITION}"),
                target(f"time() - volstream_consumer_last_event_time_seconds{{{CONSUMER}}}",
                       f"event {PARTITION}"),
            ], "s"),
            timeseries("Processing rate and partitions owned", "Ticks settled per second, and "
                       "partitions owned, per consumer; rebalances.", [
                target(f"volstream_consumer_processing_rate{{{CONSUMER}}}", "rate {{instance}}"),
                target(f"volstream_consumer_assigned_partitions{{{CONSUMER}}}",
                       "partitions {{instance}}"),
                target(f"sum by (kind) (increase(volstream_consumer_rebalances_total{{{CONSUMER}}}"
                       f"[{RATE}]))", "rebalances ({{kind}})"),
            ]),
        ],
        "Inference and GPU": [
            timeseries("Inference time by backend", "99th percentile of one inference call, by "
                       "backend and batch class.",
                       quantiles("volstream_consumer_inference_seconds", CONSUMER,
                                 "backend, batch", (0.99,)), "s"),
            timeseries("Producer source lag", "Wall time minus the event time of the newest tick "
                       "sent (near 0 for a live source).",
                       [target("volstream_producer_source_lag_seconds", "source lag")], "s"),
            timeseries("GPU utilisation", "Share of time a kernel ran (NVML); empty without a GPU.",
                       [target("volstream_gpu_utilization_ratio", "{{job}} gpu {{gpu}}")],
                       "percentunit"),
            timeseries("GPU memory, temperature and power", "NVML readings; empty without a GPU.", [
                target("volstream_gpu_memory_used_bytes / volstream_gpu_memory_total_bytes",
                       "memory used {{job}} gpu {{gpu}}"),
                target("volstream_gpu_temperature_celsius / 100", "temperature/100 °C gpu {{gpu}}"),
                target("volstream_gpu_power_watts / 1000", "power kW gpu {{gpu}}"),
            ], "percentunit"),
        ],
    }  # fmt: skip
    variable = {
        "name": "instance", "label": "consumer", "type": "query", "datasource": DATASOURCE,
        "query": {"query": "label_values(volstream_consumer_assigned_partitions, instance)",
                  "refId": "instance"},
        "definition": "label_values(volstream_consumer_assigned_partitions, instance)",
        "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*",
        "current": {"text": "All", "value": "$__all"}, "sort": 1,
    }  # fmt: skip
    return dashboard("volstream-pipeline", "volstream / Pipeline", sections, [variable])


# SLO --------------------------------------------------------------------------------------------

#: The burn-rate windows the alerts of docker/prometheus/rules/slo.yml use.
WINDOWS: Final = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
ALERT_STATES: Final = {0: ("OK", "green"), 1: ("pending", "yellow"), 2: ("FIRING", "red")}


@dataclass(frozen=True)
class Slo:
    """One SLO of docs/slo.md as the dashboard shows it."""

    title: str
    name: str  # the alerts' slo label; the recording rules are slo:<name>_error_ratio:rate<w>
    objective: float
    error_ratio_30d: str
    traffic: tuple[tuple[str, str], ...]  # (legend, expr)
    traffic_unit: str

    @property
    def ratio(self) -> str:
        return f"slo:{self.name.replace('-', '_')}_error_ratio"


def _api_ratio_30d(bad: str, total: str) -> str:
    return f"(sum(increase({bad}[30d])) or vector(0)) / sum(increase({total}[30d]))"


REQUESTS: Final = "volstream_api_requests_total"
PREDICT_LATENCY: Final = "volstream_api_request_duration_seconds"
PREDICT: Final = 'route="/predict"'
FAST: Final = 'route="/predict",le="0.1"'
SLOS: Final = (
    Slo("API availability", "api-availability", 0.999,
        _api_ratio_30d(f'{REQUESTS}{{status=~"5.."}}', REQUESTS),
        (("requests", rate(REQUESTS)), ("5xx", rate(REQUESTS, 'status=~"5.."') + " or vector(0)")),
        "reqps"),
    Slo("API latency", "api-latency", 0.99,
        f"1 - sum(increase({PREDICT_LATENCY}_bucket{{{FAST}}}[30d])) "
        f"/ sum(increase({PREDICT_LATENCY}_count{{{PREDICT}}}[30d]))",
        (("POST /predict", rate(f"{PREDICT_LATENCY}_count", PREDICT)),
         ("slower than 100 ms", f"{rate(f'{PREDICT_LATENCY}_count', PREDICT)} - "
                                f"{rate(f'{PREDICT_LATENCY}_bucket', FAST)}")),
        "reqps"),
    Slo("Pipeline freshness", "pipeline-freshness", 0.99,
        "avg_over_time(slo:pipeline_freshness_bad:max[30d])",
        (("largest time lag", "max(volstream_consumer_lag_seconds)"),),
        "s"),
)  # fmt: skip


def _slo_panels(slo: Slo) -> list[Panel]:
    budget = 1 - slo.objective
    alerts = f'ALERTS{{slo="{slo.name}"'
    firing, pending = f'{alerts},alertstate="firing"}}', f'{alerts},alertstate="pending"}}'
    alert_state = f"max(2 * {firing}) or max({pending}) or vector(0)"
    objective = f"{slo.objective:.1%}"
    sli_lines = (("red", None), ("green", slo.objective))
    return [
        stat("SLI, last 5 minutes", f"Good share over the last 5 minutes; objective {objective}.",
             f"1 - {slo.ratio}:rate5m", "percentunit", thresholds=sli_lines, decimals=3),
        stat("Error budget left, 30 days", "Share of the 30-day error budget not yet spent "
             "(negative: overspent).", f"1 - ({slo.error_ratio_30d}) / {budget:g}",
             "percentunit", thresholds=(("red", None), ("yellow", 0.2), ("green", 0.5)),
             decimals=1, height=8),
        stat("Burn-rate alerts", "The fast (page) and slow (ticket) burn-rate alerts of this SLO: "
             "FIRING, pending, or OK.", alert_state, mappings=ALERT_STATES, height=8),
        timeseries("Burn rate by window", "Error ratio over each alert window divided by the "
                   "budget; the alerts fire on 14.4 and 6 (page) and 3 and 1 (ticket) over a long "
                   "and a short window together.",
                   [target(f"{slo.ratio}:rate{w} / {budget:g}", w) for w in WINDOWS], "x",
                   lines=(("green", None), ("yellow", 1), ("orange", 6), ("red", 14.4))),
        timeseries("SLI", f"Good share over 5 minutes and 1 hour against the objective "
                   f"({objective}).", [target(f"1 - {slo.ratio}:rate5m", "5m"),
                                       target(f"1 - {slo.ratio}:rate1h", "1h")],
                   "percentunit", lines=sli_lines, width=12),
        timeseries("Traffic and errors", "What the SLI is computed from.",
                   [target(expr, legend) for legend, expr in slo.traffic], slo.traffic_unit),
    ]  # fmt: skip


def slo() -> Panel:
    """Per SLO: the SLI now, error budget left over 30 days, burn rates, alert state."""
    sections = {f"{s.title} (objective {s.objective:.1%})": _slo_panels(s) for s in SLOS}
    return dashboard("volstream-slo", "volstream / SLOs", sections, [], time_from="now-6h")


# Model and drift --------------------------------------------------------------------------------

PROBABILITY: Final = "volstream_consumer_prediction_probability"


def model() -> Panel:
    """Predictions by version and their distribution, drift per feature, API latency, errors."""
    sections = {
        "Predictions": [
            timeseries("Predictions by model version", "Predictions published by the stream "
                       "consumers and scored by the API, by model version.", [
                target(rate(f"{PROBABILITY}_count", by="model_version"),
                       "stream {{model_version}}"),
                target(rate("volstream_api_predictions_total", by="model_version, variant"),
                       "API {{model_version}} {{variant}}"),
            ], "suffix: /s"),
            heatmap("Distribution of stream predictions", "Predicted spike probabilities "
                    "published per interval, buckets of 0.05.",
                    f"sum by (le) (increase({PROBABILITY}_bucket[{RATE}]))"),
            timeseries("Probability quantiles by version", "Median and 90th percentile of the "
                       "predicted probability, stream and API.", [
                *quantiles(PROBABILITY, "", "model_version", (0.5, 0.9)),
                *quantiles("volstream_api_prediction_probability", "", "model_version", (0.5,)),
            ], "percentunit"),
            table("Models in service", "The model each consumer and the API serve.",
                  "volstream_model_info or volstream_api_model_info"),
        ],
        "Drift": [
            stat("Drifted features", "Share of the model features whose drift test failed in the "
                 "last pass.", "volstream_drift_drifted_features_share", "percentunit",
                 thresholds=(("green", None), ("yellow", 0.25), ("red", 0.5))),
            stat("Dataset drift", "Whether the drifted share reached VOLSTREAM_DRIFT_DRIFT_SHARE.",
                 "volstream_drift_dataset_drift",
                 mappings={0: ("no drift", "green"), 1: ("DRIFT", "red")}),
            stat("Prediction drift score", "Drift score of the predicted probability.",
                 "volstream_drift_prediction_score", decimals=3),
            stat("Last drift pass", "When the last successful pass finished (no data before the "
                 "first).", "(volstream_drift_last_success_timestamp_seconds > 0) * 1000",
                 "dateTimeFromNow"),
            stat("Rows in the current window", "Rows the last pass compared with the reference "
                 "(a pass with too few is skipped).", "volstream_drift_current_rows"),
            stat("Failed passes", "Drift passes that failed since the job started.",
                 "volstream_drift_run_failures_total", thresholds=red_from(1)),
            bar_gauge("Drift score per feature", "The last pass's score of each feature "
                      "(docs/drift.md: the method and its threshold).",
                      "volstream_drift_feature_score", "{{feature}}", "none"),
            state_timeline("Features drifted", "Whether each feature's drift test failed, pass by "
                           "pass.", "volstream_drift_feature_detected", "{{feature}}",
                           {0: ("stable", "green"), 1: ("drifted", "red")}),
            timeseries("Drift scores over time", "Score of each feature and of the prediction.", [
                target("volstream_drift_feature_score", "{{feature}}"),
                target("volstream_drift_prediction_score", "prediction"),
            ]),
            timeseries("Drift pass duration", "Seconds one pass took, reading the window "
                       "included.", [target("volstream_drift_run_duration_seconds", "duration")],
                       "s"),
        ],
        "API": [
            timeseries("API latency by route", "Median and 99th percentile by route template.",
                       quantiles(PREDICT_LATENCY, "", "route", (0.5, 0.99)), "s",
                       lines=red_from(0.1)),
            timeseries("API requests by status", "Answers per second by HTTP status.",
                       [target(rate(REQUESTS, by="status"), "{{status}}")], "reqps"),
            timeseries("API errors by kind", "Error answers by route and kind "
                       "(docs/api.md#errors).",
                       [target(rate("volstream_api_errors_total", by="route, kind"),
                               "{{route}} {{kind}}")], "reqps"),
            timeseries("API inference time by backend", "99th percentile of one inference call.",
                       quantiles("volstream_api_inference_seconds", "", "backend, batch", (0.99,)),
                       "s"),
        ],
    }  # fmt: skip
    return dashboard("volstream-model", "volstream / Model & drift", sections, [])


# Assembly ---------------------------------------------------------------------------------------


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


LINKS: Final = {"title": "volstream", "type": "dashboards", "tags": ["volstream"]}

DASHBOARDS: Final[dict[str, Callable[[], Panel]]] = {
    "pipeline": pipeline,
    "slo": slo,
    "model": model,
}


def render(name: str) -> str:
    """The file text of dashboard ``name``."""
    return json.dumps(DASHBOARDS[name](), indent=2, ensure_ascii=False) + "\n"


def path(name: str) -> Path:
    """Where the JSON file of dashboard ``name`` lives."""
    return DASHBOARD_DIR / f"{name}.json"


def queries(dashboard_json: Panel) -> list[tuple[str, str]]:
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


if __name__ == "__main__":
    write_all()
