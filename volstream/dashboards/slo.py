"""The SLO dashboard: per SLO, the SLI, the error budget left, burn rates, alert state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from volstream.dashboards.panels import Panel, dashboard, rate, stat, target, timeseries

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
ROUTES: Final = 'route=~"/predict.*"'  # the SLO's routes: readiness and reports aside
PREDICT_LATENCY: Final = "volstream_api_request_duration_seconds"
PREDICT: Final = 'route="/predict"'
FAST: Final = 'route="/predict",le="0.1"'
BACK: Final = "volstream_canary_markers_received_total"
LOST: Final = "volstream_canary_markers_lost_total"
SLOS: Final = (
    Slo("API availability", "api-availability", 0.999,
        _api_ratio_30d(f'{REQUESTS}{{status=~"5..",{ROUTES}}}', f"{REQUESTS}{{{ROUTES}}}"),
        (("requests", rate(REQUESTS)), ("5xx", rate(REQUESTS, 'status=~"5.."') + " or vector(0)")),
        "reqps"),
    Slo("API latency", "api-latency", 0.99,
        f"1 - sum(increase({PREDICT_LATENCY}_bucket{{{FAST}}}[30d])) "
        f"/ sum(increase({PREDICT_LATENCY}_count{{{PREDICT}}}[30d]))",
        (("POST /predict", rate(f"{PREDICT_LATENCY}_count", PREDICT)),
         ("slower than 100 ms", f"{rate(f'{PREDICT_LATENCY}_count', PREDICT)} - "
                                f"{rate(f'{PREDICT_LATENCY}_bucket', FAST)}")),
        "reqps"),
    Slo("Canary availability", "canary-availability", 0.999,
        f"sum(increase({LOST}[30d])) / (sum(increase({LOST}[30d])) + sum(increase({BACK}[30d])))",
        (("markers back", rate(BACK)), ("markers lost", rate(LOST))),
        "suffix: /s"),
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


def slo() -> str:
    """Per SLO: the SLI now, error budget left over 30 days, burn rates, alert state."""
    sections = {f"{s.title} (objective {s.objective:.1%})": _slo_panels(s) for s in SLOS}
    return dashboard("volstream-slo", "volstream / SLOs", sections, time_from="now-6h")
