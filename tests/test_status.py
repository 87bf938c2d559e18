"""`volstream status`'s arithmetic: rates and percentiles from two scrapes."""

from __future__ import annotations

import pytest

from volstream.status import Snapshot, quantile, rate


def histogram(counts: dict[str, float]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {("h_bucket", (("le", le), ("route", "/predict"))): c for le, c in counts.items()}


def test_quantiles_come_from_the_interval_between_scrapes() -> None:
    before = histogram({"0.01": 100, "0.1": 100, "+Inf": 100})  # 100 fast requests earlier
    now = histogram({"0.01": 100, "0.1": 150, "+Inf": 200})  # then 50 in (0.01, 0.1], 50 over
    assert quantile(before, now, "h", 0.25, route="/predict") == pytest.approx(0.055)
    assert quantile(before, now, "h", 0.99, route="/predict") == 0.1  # beyond the last edge
    assert quantile(now, now, "h", 0.5) is None  # nothing happened in between


def test_rates_are_per_second_and_never_negative() -> None:
    def snap(at: float, value: float) -> Snapshot:
        return Snapshot(at, {"api": {("c_total", (("status", "200"),)): value}})

    assert rate(snap(0, 100), snap(2, 300), "api", "c_total") == 100
    assert rate(snap(0, 300), snap(2, 10), "api", "c_total") == 0  # a restart resets counters
    assert rate(snap(0, 100), Snapshot(2, {"api": None}), "api", "c_total") == 0


def test_live_quality_lists_the_served_model_first_over_the_shortest_window() -> None:
    from rich.console import Console

    from volstream.status import quality_rows, render

    def series(name: str, value: float, window: str, role: str, variant: str) -> tuple:
        labels = (("model_version", "v1"), ("role", role), ("variant", variant),
                  ("window", window))  # fmt: skip
        return ("volstream_quality_" + name, labels), value

    samples = dict([
        series("pr_auc", 0.41, "1h", "shadow", "baseline"),
        series("pr_auc", 0.55, "15m", "shadow", "baseline"),
        series("outcomes", 900.0, "15m", "shadow", "baseline"),
        series("pr_auc", 0.61, "15m", "served", "model"),
        series("outcomes", 900.0, "15m", "served", "model"),
        series("outcomes", 3600.0, "1h", "served", "model"),
    ])  # fmt: skip
    rows = quality_rows(samples, "15m")
    assert [(r.role, r.variant, r.pr_auc) for r in rows] == [
        ("served", "model", 0.61),
        ("shadow", "baseline", 0.55),
    ]
    console = Console(width=200, record=True)
    services = {**dict.fromkeys(("producer", "consumer", "api", "drift")), "evaluator": samples}
    console.print(render(Snapshot(0, services), Snapshot(1, services)))
    text = console.export_text()
    assert "live quality, last 15m" in text and "0.610" in text


def test_the_canary_line_shows_markers_back_lost_and_the_round_trip() -> None:
    from rich.console import Console

    from volstream.status import render

    def canary(received: float, lost: float, fast: float, slow: float) -> dict:
        labels = (("partition", "0"),)
        return {
            ("volstream_canary_markers_received_total", labels): received,
            ("volstream_canary_markers_lost_total", labels): lost,
            ("volstream_canary_roundtrip_seconds_bucket", (*labels, ("le", "0.05"))): fast,
            ("volstream_canary_roundtrip_seconds_bucket", (*labels, ("le", "+Inf"))): fast + slow,
        }

    services = dict.fromkeys(("producer", "consumer", "api", "drift"))
    before = Snapshot(0, {**services, "canary": canary(100, 0, 100, 0)})
    now = Snapshot(10, {**services, "canary": canary(198, 2, 198, 2)})  # 98 back, 2 lost
    console = Console(width=200, record=True)
    console.print(render(before, now))
    text = console.export_text()
    assert "9.8 markers back/s, 0.2 lost/s" in text
    assert "a marker's round trip through the pipeline" in text
    assert "canary availability (markers back in time)" in text and "98.00%" in text
    assert "burning" in text
