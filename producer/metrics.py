"""The producer's Prometheus metrics, built on a registry passed in."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from volstream.metrics import LATENCY_BUCKETS, BatchHistogram

__all__ = ["ProducerMetrics", "build_metrics"]


@dataclass(frozen=True)
class ProducerMetrics:
    """Handles on every producer metric (see docs/metrics.md)."""

    ticks: Counter
    failed: Counter
    skipped: Counter
    produce_latency: BatchHistogram
    source_lag: Gauge
    last_event_time: Gauge
    reconnects: Counter


def build_metrics(registry: CollectorRegistry, topic: str) -> ProducerMetrics:
    """Create the producer metrics on ``registry``; series for ``topic`` exist from the start."""
    metrics = ProducerMetrics(
        ticks=Counter(
            "volstream_producer_ticks",
            "Ticks the broker acknowledged.",
            ["topic"],
            registry=registry,
        ),
        failed=Counter(
            "volstream_producer_failed",
            "Ticks the broker did not acknowledge, by Kafka error name.",
            ["topic", "reason"],
            registry=registry,
        ),
        skipped=Counter(
            "volstream_producer_skipped",
            "Source records that were not ticks and were not sent, by reason.",
            ["reason"],
            registry=registry,
        ),
        produce_latency=BatchHistogram(
            "volstream_producer_produce_latency_seconds",
            "Time from handing a tick to the client to the broker's acknowledgement.",
            LATENCY_BUCKETS,
            registry,
            ["topic"],
        ),
        source_lag=Gauge(
            "volstream_producer_source_lag_seconds",
            "Wall time minus the event time of the newest tick sent: how far behind the source is.",
            registry=registry,
        ),
        last_event_time=Gauge(
            "volstream_producer_last_event_time_seconds",
            "Event time of the newest tick sent, Unix seconds.",
            registry=registry,
        ),
        reconnects=Counter(
            "volstream_producer_source_reconnects",
            "Times a live source reconnected.",
            registry=registry,
        ),
    )
    metrics.ticks.labels(topic)
    metrics.produce_latency.labels(topic)
    return metrics
