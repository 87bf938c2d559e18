"""The docs name every setting and every metric the code defines."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from prometheus_client import CollectorRegistry

from volstream.producer.metrics import build_metrics
from volstream.settings import (
    ApiSettings,
    BrokerSettings,
    CanarySettings,
    ConsumerSettings,
    DeviceSettings,
    DriftSettings,
    EvaluateSettings,
    KafkaSettings,
    ModelSettings,
    ProducerSettings,
    TrainSettings,
)

DOCS = Path(__file__).parent.parent / "docs"


@pytest.mark.parametrize(
    "cls",
    [
        KafkaSettings,
        BrokerSettings,
        ProducerSettings,
        ConsumerSettings,
        ModelSettings,
        TrainSettings,
        ApiSettings,
        DriftSettings,
        DeviceSettings,
        EvaluateSettings,
        CanarySettings,
    ],
)
def test_every_setting_is_documented(cls: type) -> None:
    text = (DOCS / "configuration.md").read_text()
    prefix = cls.model_config["env_prefix"]
    missing = [
        f"{prefix}{f.upper()}" for f in cls.model_fields if f"`{prefix}{f.upper()}`" not in text
    ]
    assert not missing


def test_every_producer_metric_is_documented() -> None:
    registry = CollectorRegistry()
    build_metrics(registry, "ticks")
    assert not _undocumented(registry)


def test_every_api_metric_is_documented() -> None:
    from volstream.api.metrics import build_api_metrics

    registry = CollectorRegistry()
    build_api_metrics(registry)
    assert not _undocumented(registry)


def test_every_drift_metric_is_documented() -> None:
    from volstream.drift.metrics import build_drift_metrics

    registry = CollectorRegistry()
    build_drift_metrics(registry)
    assert not _undocumented(registry)


def test_every_evaluator_metric_is_documented() -> None:
    from volstream.evaluator.metrics import QualityCollector, build_metrics
    from volstream.evaluator.quality import ModelKey, QualityWindows
    from volstream.settings import EvaluateSettings

    registry = CollectorRegistry()
    build_metrics(registry, EvaluateSettings())
    windows = QualityWindows({"1h": 3_600_000})
    windows.add(ModelKey("v1", "model", "served"), np.array([0, 1]), np.array([True, False]),
                np.array([0.9, 0.1]), 0.5)  # fmt: skip
    figures = {"pr_auc": 0.5, "brier": 0.1}
    QualityCollector(windows, threading.Lock(), lambda v, k: figures, registry)
    names = {m.name for m in registry.collect()}
    assert {"volstream_quality_pr_auc", "volstream_quality_test_brier"} <= names
    assert not _undocumented(registry)


def test_every_canary_metric_is_documented() -> None:
    from volstream.canary.metrics import build_metrics as build_canary_metrics

    registry = CollectorRegistry()
    build_canary_metrics(registry).add_partition(0)
    assert not _undocumented(registry)


def test_every_gpu_metric_is_documented() -> None:
    from volstream.gpu_metrics import register_gpu_metrics
    from volstream.testing import FakeNvml

    registry = CollectorRegistry()
    register_gpu_metrics(registry, FakeNvml())
    assert not _undocumented(registry)


def _undocumented(registry: CollectorRegistry) -> list[str]:
    text = (DOCS / "metrics.md").read_text()
    names = {m.name + ("_total" if m.type == "counter" else "") for m in registry.collect()}
    assert names
    return [n for n in names if f"`{n}`" not in text]


def test_every_feature_is_documented() -> None:
    from volstream.features import FEATURE_NAMES

    text = (DOCS / "features.md").read_text()
    assert not [name for name in FEATURE_NAMES if f"| `{name}` |" not in text]


def test_every_consumer_metric_is_documented() -> None:
    from volstream.consumer.lag import PARTITION_GAUGES, LagCollector, LagTracker
    from volstream.consumer.metrics import build_metrics as build_consumer_metrics

    registry = CollectorRegistry()
    build_consumer_metrics(registry, "ticks", "g")
    tracker = LagTracker(60, 30)
    LagCollector(tracker, "ticks", "g", registry)
    tracker.assign([0], {0: 0})
    names = {m.name for m in registry.collect()}
    assert {f"volstream_consumer_{name}" for name, _ in PARTITION_GAUGES.values()} <= names
    assert not _undocumented(registry)


def test_every_recording_rule_is_documented() -> None:
    rules = Path(__file__).parents[1] / "docker" / "prometheus" / "rules"
    records = [
        rule["record"]
        for path in sorted(rules.glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    ]
    assert records
    text = (DOCS / "metrics.md").read_text() + (DOCS / "slo.md").read_text()
    assert "`slo:<slo>_error_ratio:rate<window>`" in text
    # An SLO's error ratios are documented once for all their windows.
    names = {re.sub(r"^(slo:\w+):rate\d+[mhd]$", r"\1", r) for r in records}
    assert [n for n in names if f"`{n}`" not in text] == []


def test_the_testing_guide_example_runs(tmp_path: Path) -> None:
    text = (DOCS / "testing.md").read_text()
    [code] = re.findall(r"```python\n(.*?)```", text, re.S)
    namespace: dict[str, object] = {}
    exec(compile(code, "docs/testing.md", "exec"), namespace)  # noqa: S102 - our own docs
    namespace["test_each_spike_becomes_one_alert_and_is_committed"](tmp_path)  # type: ignore[operator]
