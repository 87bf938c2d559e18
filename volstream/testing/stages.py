"""The services run in-process against a real broker, with test-sized settings."""

from __future__ import annotations

import threading
from pathlib import Path

from prometheus_client import CollectorRegistry

from volstream.consumer.main import ConsumeSummary
from volstream.consumer.main import run as run_consumer
from volstream.producer.main import ProduceSummary
from volstream.producer.main import run as run_producer
from volstream.settings import ConsumerSettings, KafkaSettings, ModelSettings, ProducerSettings

__all__ = ["consume_to_end", "produce_synthetic"]


def produce_synthetic(kafka: KafkaSettings, count: int, **fields: object) -> ProduceSummary:
    """Publish ``count`` synthetic ticks as fast as the broker takes them (``fields``:
    producer settings, e.g. ``symbols="12"``); every one must be acknowledged."""
    settings = ProducerSettings.model_validate(
        {"count": count, "rate": 0, "metrics_port": 0, "progress": False, **fields}
    )
    summary = run_producer(kafka, settings, threading.Event())
    if summary.sent != count:
        msg = f"{summary.sent} of {count} ticks were acknowledged"
        raise AssertionError(msg)
    return summary


def consume_to_end(
    kafka: KafkaSettings,
    model_registry: Path,
    metrics: CollectorRegistry | None = None,
    **fields: object,
) -> ConsumeSummary:
    """Run the consumer until every partition is caught up (``fields``: consumer settings)."""
    settings = ConsumerSettings.model_validate({"metrics_port": 0, "stop_at_end": True, **fields})
    model = ModelSettings.model_validate({"registry": model_registry})
    return run_consumer(kafka, settings, model, threading.Event(), metrics)
