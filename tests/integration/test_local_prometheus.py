"""`volstream demo` with a real Prometheus (Debian's) scraping it: every target up, every
recording rule of docker/prometheus/rules and every Grafana panel query returns data, and
Ctrl-C stops Prometheus too."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from volstream.gpu_metrics import GpuCollector
from volstream.k8s import DEPLOY
from volstream.kafka.embedded import free_port
from volstream.local_prometheus import RULES
from volstream.testing import program, wait_for

from ..grafana import panel_queries

pytestmark = pytest.mark.kafka
ROW = {"log_return": 0.0004, "rv_10s": 0.0011, "rv_30s": 0.0019, "rv_60s": 0.0031,
       "mean_return_60s": 0.00001, "tick_count_10s": 24, "tick_count_60s": 141,
       "volume_60s": 7.5, "spread_bps": 2.1, "imbalance": 0.12, "vwap_dev_bps_60s": 0.8,
       "range_bps_60s": 14.0, "seconds_since_prev": 0.07}  # fmt: skip


def query(port: int, expression: str) -> list[Any]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())["data"]["result"]  # type: ignore[no-any-return]
    except OSError:
        return []


def recording_rules() -> list[str]:
    names = []
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names += [rule["record"] for rule in group["rules"] if "record" in rule]
    return names


def autoscaler_queries() -> dict[str, str]:
    """Trigger name -> query of the ScaledObject that scales the consumers on Kubernetes."""
    scaler = yaml.safe_load((DEPLOY / "components" / "operators" / "autoscaler.yaml").read_text())
    return {trigger["name"]: trigger["metadata"]["query"] for trigger in scaler["spec"]["triggers"]}


def expected_with_data() -> dict[str, str]:
    """Description -> expression: every recording rule, every panel query (the GPU panels
    only on a machine with a GPU: without one, NVML exports nothing) and every autoscaler
    query."""
    expected = {f"rule {name}": name for name in recording_rules()}
    expected |= {f"autoscaler {name}": expr for name, expr in autoscaler_queries().items()}
    has_gpu = GpuCollector().gpus > 0
    for dashboard, title, expr in panel_queries():
        if has_gpu or "volstream_gpu_" not in expr:
            expected[f"{dashboard}: {title}: {expr}"] = expr
    return expected


def predict(port: int, body: bytes) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/predict", body,
                                     {"content-type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def targets_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/targets", timeout=5) as r:
            active = json.loads(r.read())["data"]["activeTargets"]
    except OSError:
        return False
    return len(active) == 6 and all(t["health"] == "up" for t in active)


def check_status(ports: dict[str, int]) -> None:
    """`volstream status --once` shows every service up, the SLOs, and lag per partition."""
    urls = {name: f"http://127.0.0.1:{ports[name]}/metrics"
            for name in ("producer", "consumer", "api", "drift", "canary")}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "volstream", "status", "--once", "--interval", "2",
         *(f"--{name}={url}" for name, url in urls.items())],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "160"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = result.stdout
    for service in ("producer", "consumer", "api", "drift", "canary"):
        assert re.search(rf"│ {service} +│ up +│", table), table
    # Markers come back a few a second: a 2-second interval may hold none.
    assert re.search(r"│ canary +│ up +│ [\d.]+ markers back/s", table), table
    assert re.search(r"│ producer +│ up +│ \d+ ticks/s", table), table
    assert "API availability" in table and "pipeline freshness" in table
    lag_rows = re.findall(r"│ ticks +│ (\d) +│", table)
    assert sorted(lag_rows) == ["0", "1", "2", "3", "4", "5"], table


def test_demo_prometheus_scrapes_every_service_and_every_rule_has_data(tmp_path: Path) -> None:
    program("prometheus")
    services = ("producer", "consumer", "api", "drift", "evaluator", "canary", "prometheus")
    ports = {name: free_port() for name in services}
    env = {**os.environ, "VOLSTREAM_PRODUCER_METRICS_PORT": str(ports["producer"]),
           "VOLSTREAM_CONSUMER_METRICS_PORT": str(ports["consumer"]),
           "VOLSTREAM_API_PORT": str(ports["api"]),
           "VOLSTREAM_DRIFT_METRICS_PORT": str(ports["drift"]),
           "VOLSTREAM_EVALUATE_METRICS_PORT": str(ports["evaluator"]),
           "VOLSTREAM_CANARY_METRICS_PORT": str(ports["canary"]),
           "VOLSTREAM_DEMO_PROMETHEUS_PORT": str(ports["prometheus"]),
           "VOLSTREAM_TRAIN_DURATION_SECONDS": "1800"}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "volstream", "demo", "--port", str(free_port())],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path, env=env,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True)
    reader.start()
    prometheus = ports["prometheus"]
    try:
        wait_for(lambda: targets_up(prometheus), 120, "every target up in Prometheus")
        body = json.dumps({"rows": [ROW]}).encode()
        for _ in range(20):
            assert predict(ports["api"], body) == 200
            time.sleep(0.5)
        assert predict(ports["api"], b'{"rows": [{"log_return": "x"}]}') == 422  # an error kind
        missing = expected_with_data()
        deadline = time.monotonic() + 180
        while missing and time.monotonic() < deadline:
            missing = {name: e for name, e in missing.items() if not query(prometheus, e)}
            time.sleep(3)
        assert not missing, "no data for:\n" + "\n".join(missing)
        assert query(prometheus, "slo:api_latency_error_ratio:rate5m")[0]["value"][1] == "0"
        scaling = {name: query(prometheus, e) for name, e in autoscaler_queries().items()}
        assert all(len(series) == 1 for series in scaling.values()), scaling  # one number each
        values = {name: float(series[0]["value"][1]) for name, series in scaling.items()}
        assert all(0 <= value < math.inf for value in values.values()), values
        assert values["busy"] > 0, values  # the consumer spends time on every batch
        check_status(ports)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        finally:
            process.kill()
        reader.join(5)
        if process.stdout:
            process.stdout.close()
    output = "".join(lines)
    assert process.returncode == 0, output
    assert f"demo: Prometheus at http://127.0.0.1:{prometheus}" in output
    assert "prometheus exit 0" in lines[-1], output[-2000:]
