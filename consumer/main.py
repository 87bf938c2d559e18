"""``volstream consume``: settings → metrics → models (following the registry) → the batch loop.

The loop itself is :class:`consumer.stream.StreamConsumer`.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from volstream.consumer.lag import LagCollector, LagTracker
from volstream.consumer.metrics import ConsumerMetrics, build_metrics
from volstream.consumer.probes import ConsumerProbes
from volstream.consumer.stream import StreamConsumer
from volstream.gpu_metrics import register_gpu_metrics
from volstream.kafka.admin import wait_for_broker
from volstream.kafka.clients import LIBRDKAFKA, KafkaClients
from volstream.metrics import inference_histogram, serve_metrics
from volstream.model.inference import TimedPredictor
from volstream.model.serving import RegistryFollower
from volstream.settings import (
    CPU_ONLY,
    ConsumerSettings,
    DeviceSettings,
    KafkaSettings,
    ModelSettings,
)

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
    device: DeviceSettings | None = None,
) -> ConsumeSummary:
    """Consume until ``stop``, the end (``stop_at_end``) or ``max_messages``.

    Without a model in the registry yet, it waits for one (metrics are served meanwhile).
    """
    registry = registry or CollectorRegistry()
    metrics = build_metrics(registry, kafka.ticks_topic, settings.group)
    tracker = LagTracker(settings.lag_window_seconds, settings.stopped_after_seconds)
    probes = ConsumerProbes(tracker).routes()
    started = time.monotonic()
    worker = None
    with serve_metrics(registry, settings.metrics_port, "consumer", probes=probes):
        try:
            worker = build(kafka, settings, model, registry, metrics=metrics, stop=stop,
                           device=device, tracker=tracker)  # fmt: skip
            if worker is not None:
                wait_for_broker(kafka)
                worker.run(stop)
        finally:
            if worker is not None:
                worker.close()
    done = (worker.consumed, worker.predicted, worker.rejected) if worker else (0, 0, 0)
    summary = ConsumeSummary(*done, time.monotonic() - started)
    log.info("consumer finished: %s", summary.line())
    return summary


def build(
    kafka: KafkaSettings,
    settings: ConsumerSettings,
    model: ModelSettings,
    registry: CollectorRegistry,
    *,
    metrics: ConsumerMetrics | None = None,
    stop: threading.Event | None = None,
    device: DeviceSettings | None = None,
    clients: KafkaClients = LIBRDKAFKA,
    tracker: LagTracker | None = None,
) -> StreamConsumer | None:
    """The model (waiting for one), then a consumer ready to ``run``; None if stopped."""
    metrics = metrics or build_metrics(registry, kafka.ticks_topic, settings.group)
    tracker = tracker or LagTracker(settings.lag_window_seconds, settings.stopped_after_seconds)
    LagCollector(tracker, kafka.ticks_topic, settings.group, registry)
    inference = inference_histogram(registry, "consumer")
    follower = RegistryFollower(
        model, device or CPU_ONLY,
        wrap=lambda predictor: TimedPredictor(predictor, inference),
        on_failure=lambda problem: metrics.model.reloads.labels("failed").inc(),
    )  # fmt: skip
    register_gpu_metrics(registry)
    predictor = follower.wait(stop or threading.Event())
    if predictor is None:
        return None
    return StreamConsumer(kafka, settings, follower, predictor, metrics, tracker, clients)
