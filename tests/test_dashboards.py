"""The Grafana dashboards: committed as generated, well formed, every query parsed by promtool
and naming only documented metrics or recording rules. Their queries run against a live
Prometheus in tests/integration/test_local_prometheus.py."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from volstream import dashboards
from volstream.local_prometheus import RULES
from volstream.testing import program

from .grafana import VARIABLES, panel_queries

DOCS = Path(__file__).parent.parent / "docs"
# A metric, or a recorded rule (level:metric:operations).
METRIC = re.compile(
    r"(?<![\w:])((?:[a-z_]+:)?volstream_[a-z0-9_]+(?::[a-z0-9_]+)?|slo:[a-z0-9_:]+)"
)
GRAFANA_VARIABLE = re.compile(r"\$(\w+)")


def load(name: str) -> dict[str, Any]:
    return json.loads(dashboards.path(name).read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", sorted(dashboards.DASHBOARDS))
def test_the_committed_dashboard_is_what_the_module_generates(name: str) -> None:
    assert dashboards.path(name).read_text() == dashboards.render(name), "run `make dashboards`"


@pytest.mark.parametrize("name", sorted(dashboards.DASHBOARDS))
def test_the_dashboard_is_well_formed(name: str) -> None:
    board = load(name)
    panels = board["panels"]
    assert board["uid"].startswith("volstream-") and board["title"]
    assert [p["id"] for p in panels] == list(range(1, len(panels) + 1))
    variables = {v["name"] for v in board["templating"].get("list", [])}
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(box["x"], box["x"] + box["w"])
                 for y in range(box["y"], box["y"] + box["h"])}  # fmt: skip
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells
        if panel["type"] == "row":
            continue
        assert panel["description"] and panel["datasource"] == dashboards.DATASOURCE
        assert [t["refId"] for t in panel["targets"]] == list("ABCDEFGHIJ"[: len(panel["targets"])])
        for query in panel["targets"]:
            used = {v for v in GRAFANA_VARIABLE.findall(query["expr"]) if not v.startswith("__")}
            assert used <= variables, f"{panel['title']}: undefined {used - variables}"


def test_the_dashboards_cover_what_an_operator_looks_for() -> None:
    titles = {name: {p["title"] for p in load(name)["panels"]} for name in dashboards.DASHBOARDS}
    assert {"Ticks in and out", "End-to-end latency", "Mean time per batch by stage",
            "Batch size", "Committed lag (records)", "Time lag", "Lag health",
            "Dead letters by reason", "GPU utilisation", "Canary round trip by partition",
            "Canary markers"} <= titles["pipeline"]  # fmt: skip
    for slo in dashboards.SLOS:
        assert f"{slo.title} (objective {slo.objective:.1%})" in titles["slo"]
    assert {"SLI, last 5 minutes", "Error budget left, 30 days", "Burn rate by window",
            "Burn-rate alerts"} <= titles["slo"]  # fmt: skip
    assert {"Predictions by model version", "Distribution of stream predictions",
            "Drift score per feature", "Drifted features", "Last drift pass",
            "API latency by route", "API errors by kind", "Live PR-AUC by model",
            "Model minus baseline, live", "Calibration: observed spike share by predicted bin",
            "Champion against challenger, last 15 minutes"} <= titles["model"]  # fmt: skip
    assert load("pipeline")["templating"]["list"][0]["name"] == "instance"


def test_every_panel_query_parses(tmp_path: Path) -> None:
    """promtool parses each query as the expression of a recording rule."""
    queries = panel_queries()
    rules = [{"record": f"panel:query_{i}", "expr": expr} for i, (_, _, expr) in enumerate(queries)]
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    result = subprocess.run([program("promtool"), "check", "rules", str(path)],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout
    assert all("$" not in expr for _, _, expr in queries), VARIABLES


def test_every_panel_names_only_documented_metrics_and_recorded_rules() -> None:
    documented = set(re.findall(r"^\| `([a-z0-9_]+)`", (DOCS / "metrics.md").read_text(), re.M))
    recorded = {
        rule["record"]
        for path in RULES.glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    for _, title, expr in panel_queries():
        for name in METRIC.findall(expr):
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            assert base in documented or name in recorded, f"{title}: unknown metric {name}"
