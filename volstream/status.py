"""``volstream status``: the running pipeline at a glance, read from each service's /metrics.

Rates and latency percentiles come from the difference between two scrapes
(counters and histogram buckets), so they describe the last interval, not the
whole run. The SLO lines judge that interval by the SLOs of docs/slo.md.
"""

from __future__ import annotations

import time
import urllib.request
from dataclasses import dataclass
from typing import Final

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Group
from rich.table import Table

from volstream.metrics import bucket_quantile
from volstream.settings import duration_ms

__all__ = ["QualityRow", "Snapshot", "quality_rows", "render", "scrape", "scrape_all"]

HEALTH: Final = {0: "ok", 1: "warning", 2: "stalled", 3: "stopped"}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass(frozen=True)
class Snapshot:
    """Every service's samples (None: the service did not answer) at one time."""

    time: float
    services: dict[str, Samples | None]


def scrape(url: str) -> Samples | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a URL we were given
            text = response.read().decode()
    except OSError:
        return None
    return {(s.name, tuple(sorted(s.labels.items()))): float(s.value)
            for family in text_string_to_metric_families(text) for s in family.samples}  # fmt: skip


@dataclass(frozen=True)
class QualityRow:
    """One model's live quality over one window, as the evaluator exports it."""

    role: str
    version: str
    variant: str
    outcomes: float
    pr_auc: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    brier: float | None
    base_rate: float | None


def quality_rows(samples: Samples, window: str) -> list[QualityRow]:
    """Every model's quality over ``window``: served first, then shadows."""
    found: dict[tuple[str, str, str], dict[str, float]] = {}
    prefix = "volstream_quality_"
    for (name, labels), value in samples.items():
        fields = dict(labels)
        if not name.startswith(prefix) or fields.get("window") != window or "bin" in fields:
            continue
        key = (fields["role"], fields["model_version"], fields["variant"])
        found.setdefault(key, {})[name.removeprefix(prefix)] = value
    names = ("pr_auc", "precision", "recall", "f1", "brier", "base_rate")
    return [
        QualityRow(*key, values.get("outcomes", 0.0), *(values.get(n) for n in names))
        for key, values in sorted(found.items(), key=lambda kv: (kv[0][0] != "served", kv[0]))
    ]


def scrape_all(endpoints: dict[str, str]) -> Snapshot:
    """One snapshot of every endpoint (service name -> /metrics URL)."""
    return Snapshot(time.time(), {name: scrape(url) for name, url in endpoints.items()})


def total(samples: Samples | None, name: str, **labels: str) -> float:
    """Sum of the samples named ``name`` whose labels include ``labels``."""
    if not samples:
        return 0.0
    return sum(v for (n, ls), v in samples.items()
               if n == name and labels.items() <= dict(ls).items())  # fmt: skip


def rate(before: Snapshot, now: Snapshot, service: str, name: str, **labels: str) -> float:
    seconds = max(now.time - before.time, 1e-9)
    change = total(now.services.get(service), name, **labels) - total(
        before.services.get(service), name, **labels
    )
    return max(change, 0.0) / seconds


def quantile(before: Samples | None, now: Samples | None, name: str, q: float,
             **labels: str) -> float | None:  # fmt: skip
    """The ``q`` quantile of histogram ``name`` over the interval, interpolated in its bucket."""
    buckets: dict[float, float] = {}
    for samples, sign in ((now, 1.0), (before, -1.0)):
        for (n, ls), value in (samples or {}).items():
            label = dict(ls)
            if n == f"{name}_bucket" and labels.items() <= label.items():
                edge = float(label["le"])
                buckets[edge] = buckets.get(edge, 0.0) + sign * value
    return bucket_quantile(list(buckets.items()), q)


def render(before: Snapshot, now: Snapshot) -> Group:
    """Tables of services, SLOs, lag and live quality for the interval between two snapshots."""
    return Group(_services(before, now), _slos(before, now), _lag(now), _quality(now))


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.1f} ms"


def _services(before: Snapshot, now: Snapshot) -> Table:
    table = Table("service", "state", "rate", "p50", "p99", "latency of", title="services")
    s = now.services
    e2e = "volstream_consumer_end_to_end_latency_seconds"
    request = "volstream_api_request_duration_seconds"

    def per_second(service: str, name: str, unit: str) -> str:
        return f"{rate(before, now, service, name):,.0f} {unit}/s"

    def latency(service: str, name: str, q: float, **labels: str) -> float | None:
        return quantile(before.services[service], s[service], name, q, **labels)

    rows = {
        "producer": (per_second("producer", "volstream_producer_ticks_total", "ticks"), None, None,
                     ""),
        "consumer": (per_second("consumer", "volstream_consumer_predictions_total", "predictions"),
                     latency("consumer", e2e, 0.5), latency("consumer", e2e, 0.99),
                     "end to end: tick event time to prediction acked"),
        "api": (per_second("api", "volstream_api_requests_total", "requests"),
                latency("api", request, 0.5, route="/predict"),
                latency("api", request, 0.99, route="/predict"), "a POST /predict request"),
    }  # fmt: skip
    for name, (throughput, p50, p99, what) in rows.items():
        up = s.get(name) is not None
        table.add_row(name, "up" if up else "[red]down[/red]", throughput if up else "-",
                      _ms(p50), _ms(p99), what)  # fmt: skip
    drift = s.get("drift")
    if drift is None:
        table.add_row("drift", "[red]down[/red]", "-", "-", "-", "")
    else:
        last = total(drift, "volstream_drift_last_success_timestamp_seconds")
        verdict = "dataset drift" if total(drift, "volstream_drift_dataset_drift") else "no drift"
        age = f"last pass {now.time - last:,.0f} s ago: {verdict}" if last else "no pass yet"
        table.add_row("drift", "up", age, "-", "-")
    if "evaluator" in s:
        up = s["evaluator"] is not None
        outcomes = per_second("evaluator", "volstream_outcomes_total", "outcomes") if up else "-"
        table.add_row("evaluator", "up" if up else "[red]down[/red]", outcomes, "-", "-")
    if "canary" in s:
        up = s["canary"] is not None
        roundtrip = "volstream_canary_roundtrip_seconds"
        lost = rate(before, now, "canary", "volstream_canary_markers_lost_total")
        back = f"{rate(before, now, 'canary', 'volstream_canary_markers_received_total'):,.1f}"
        back += " markers back/s" + (f", {lost:,.1f} lost/s" if lost else "")
        table.add_row("canary", "up" if up else "[red]down[/red]", back if up else "-",
                      _ms(latency("canary", roundtrip, 0.5)),
                      _ms(latency("canary", roundtrip, 0.99)),
                      "a marker's round trip through the pipeline")  # fmt: skip
    return table


def _quality(now: Snapshot) -> Table:
    """Live quality of every model over the shortest window the evaluator exports."""
    samples = now.services.get("evaluator") or {}
    windows = sorted({dict(ls)["window"] for (n, ls), _ in samples.items()
                      if n == "volstream_quality_outcomes"}, key=duration_ms)  # fmt: skip
    window = windows[0] if windows else "15m"
    table = Table("role", "model", "outcomes", "PR-AUC (test)", "precision", "recall", "Brier",
                  "spike rate", title=f"live quality, last {window} (docs/model.md)")  # fmt: skip
    for row in quality_rows(samples, window):
        test = total(samples, "volstream_quality_test_pr_auc", model_version=row.version,
                     variant=row.variant)  # fmt: skip
        auc = "-" if row.pr_auc is None else f"{row.pr_auc:.3f} ({test:.3f})"
        brier = "-" if row.brier is None else f"{row.brier:.4f}"
        shares = (_share(row.precision), _share(row.recall))
        table.add_row(row.role, f"{row.version} {row.variant}", f"{row.outcomes:,.0f}", auc,
                      *shares, brier, _share(row.base_rate))  # fmt: skip
    return table


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _slos(before: Snapshot, now: Snapshot) -> Table:
    table = Table("SLO", "objective", "this interval", "state", title="SLOs (docs/slo.md)")
    requests = rate(before, now, "api", "volstream_api_requests_total")
    if requests:
        errors = sum(rate(before, now, "api", "volstream_api_requests_total", status=str(code))
                     for code in range(500, 600))  # fmt: skip
        good = 1 - errors / requests
        table.add_row("API availability", "99.9 %", f"{good:.3%}", _state(good >= 0.999))
    predicts = rate(before, now, "api", "volstream_api_request_duration_seconds_count",
                    route="/predict")  # fmt: skip
    if predicts:
        fast = rate(before, now, "api", "volstream_api_request_duration_seconds_bucket",
                    route="/predict", le="0.1") / predicts  # fmt: skip
        table.add_row("API latency (POST /predict < 100 ms)", "99 %", f"{fast:.2%}",
                      _state(fast >= 0.99))  # fmt: skip
    back = rate(before, now, "canary", "volstream_canary_markers_received_total")
    lost = rate(before, now, "canary", "volstream_canary_markers_lost_total")
    if back + lost:
        share = back / (back + lost)
        table.add_row("canary availability (markers back in time)", "99.9 %", f"{share:.2%}",
                      _state(share >= 0.999))  # fmt: skip
    lags = [v for (n, _), v in (now.services.get("consumer") or {}).items()
            if n == "volstream_consumer_lag_seconds"]  # fmt: skip
    if lags:
        worst = max(lags)
        table.add_row("pipeline freshness (lag < 5 s)", "99 % of the time",
                      f"max lag {worst:.1f} s", _state(worst <= 5))  # fmt: skip
    return table


def _state(ok: bool) -> str:
    return "[green]ok[/green]" if ok else "[red]burning[/red]"


def _lag(now: Snapshot) -> Table:
    table = Table("topic", "partition", "lag (records)", "lag (s)", "health", title="consumer lag")
    samples = now.services.get("consumer") or {}
    found = {dict(ls)["partition"]: dict(ls) for (n, ls), _ in samples.items()
             if n == "volstream_consumer_lag_records"}  # fmt: skip
    partitions = sorted(found.items(), key=lambda item: int(item[0]))
    for partition, labels in partitions:
        key = {k: labels[k] for k in ("group", "topic", "partition")}
        health = int(total(samples, "volstream_consumer_lag_health", **key))
        table.add_row(labels["topic"], partition,
                      f"{total(samples, 'volstream_consumer_lag_records', **key):,.0f}",
                      f"{total(samples, 'volstream_consumer_lag_seconds', **key):.1f}",
                      HEALTH.get(health, str(health)))  # fmt: skip
    return table
