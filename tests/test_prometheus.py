"""The Prometheus config and rules: promtool checks them, and its unit tests cover every alert."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from volstream.testing import program

PROMETHEUS = Path(__file__).parent.parent / "docker" / "prometheus"
RUNBOOK = Path(__file__).parent.parent / "docs" / "runbook.md"


def promtool(*args: str) -> str:
    result = subprocess.run([program("promtool"), *args], capture_output=True, text=True,
                            cwd=PROMETHEUS, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def alerts() -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted((PROMETHEUS / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            found.update({rule["alert"]: rule for rule in group["rules"] if "alert" in rule})
    return found


def test_the_config_and_rules_pass_promtool_checks() -> None:
    promtool("check", "config", "prometheus.yml")
    promtool("check", "rules", *sorted(str(p) for p in (PROMETHEUS / "rules").glob("*.yml")))


def test_the_alert_unit_tests_pass() -> None:
    assert "SUCCESS" in promtool("test", "rules", "tests/alerts.test.yml")


def test_every_alert_is_tested_firing_and_silent() -> None:
    cases = yaml.safe_load((PROMETHEUS / "tests" / "alerts.test.yml").read_text())["tests"]
    firing, silent = set(), set()
    for case in cases:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else silent).add(check["alertname"])
    assert set(alerts()) == firing == silent


def test_every_alert_has_a_runbook_entry() -> None:
    anchors = {_anchor(line) for line in RUNBOOK.read_text().splitlines() if line.startswith("#")}
    for name, rule in alerts().items():
        link = rule["annotations"]["runbook"]
        assert link.startswith("docs/runbook.md#"), name
        assert link.split("#", 1)[1] in anchors, f"{name}: no heading for {link}"


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = heading.lstrip("#").strip().lower()
    return re.sub(r"[^a-z0-9 -]", "", text).replace(" ", "-")
