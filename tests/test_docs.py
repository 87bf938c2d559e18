"""The docs name every setting and every metric the code defines."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from producer.metrics import build_metrics
from volstream.settings import (
    BrokerSettings,
    ConsumerSettings,
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
    text = (DOCS / "metrics.md").read_text()
    names = {m.name + ("_total" if m.type == "counter" else "") for m in registry.collect()}
    assert names and not [n for n in names if f"`{n}`" not in text]


def test_every_feature_is_documented() -> None:
    from volstream.features import FEATURE_NAMES

    text = (DOCS / "features.md").read_text()
    assert not [name for name in FEATURE_NAMES if f"| `{name}` |" not in text]
