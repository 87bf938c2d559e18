"""``volstream consume``: settings → metrics → model and clients → the batch loop.

The loop itself is :class:`consumer.stream.StreamConsumer`.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from consumer.lag import LagCollector, LagTracker
from consumer.metrics import build_metrics
from consumer.stream import StreamConsumer
from volstream.gpu_metrics import register_gpu_metrics
from volstream.kafka.admin import wait_for_broker
from volstream.metrics import inference_histogram, serve_metrics
from volstream.model.inference import TimedPredictor, load_predictor
from volstream.settings import ConsumerSettings, KafkaSettings, ModelSettings

__all__ = ["ConsumeSummary", "build", "run"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsumeSummary:
    """What a run did."""

    consumed: int
    predicted: int
    rejected: int
    seconds: float

    def line(self) -> str:
        rate = self.consumed / self.seconds if self.seconds > 0 else 0.0
        return (
            f"consumed={self.consumed} predicted={self.predicted} rejected={self.rejected} "
            f"elapsed={self.seconds:.2f}s rate={rate:,.0f} ticks/s"
        )


def run(
    kafka: KafkaSettings,
    settings: ConsumerSettings,
    model: ModelSettings,
    stop: threading.Event,
    registry: CollectorRegistry | None = None,
) -> ConsumeSummary:
    """Consume until ``stop``, the end (``stop_at_end``) or ``max_messages``."""
    registry = registry or CollectorRegistry()
    worker = build(kafka, settings, model, registry)
    server = serve_metrics(registry, settings.metrics_port)
    if server:
        log.info("consumer metrics at %s", server.url)
    started = time.monotonic()
    try:
        worker.run(stop)
    finally:
        worker.close()
        if server:
            server.close()
    summary = ConsumeSummary(
        worker.consumed, worker.predicted, worker.rejected, time.monotonic() - started
    )
    log.info("consumer finished: %s", summary.line())
    return summary


def build(
    kafka: KafkaSettings,
    settings: ConsumerSettings,
    model: ModelSettings,
    registry: CollectorRegistry,
) -> StreamConsumer:
    """Metrics on ``registry``, the model, and a consumer ready to ``run``."""
    metrics = build_metrics(registry, kafka.ticks_topic, settings.group)
    tracker = LagTracker(settings.lag_window_seconds, settings.stopped_after_seconds)
    LagCollector(tracker, kafka.ticks_topic, settings.group, registry)
    predictor = TimedPredictor(load_predictor(model), inference_histogram(registry, "consumer"))
    register_gpu_metrics(registry)
    info = predictor.info
    metrics.model_info.labels(info.version, info.variant, info.backend).set(1)
    metrics.model_load_seconds.set(info.load_seconds)
    metrics.probability.labels(info.version)
    wait_for_broker(kafka)
    return StreamConsumer(kafka, settings, predictor, metrics, tracker)
