"""The consumer's Prometheus metrics, built on a registry passed in (see docs/metrics.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge

from volstream.consumer.quality import REASONS as FLAG_REASONS
from volstream.metrics import (
    LATENCY_BUCKETS,
    PROBABILITY_BUCKETS,
    BatchHistogram,
    ServedModelMetrics,
)
from volstream.ticks import REJECT_REASONS

__all__ = ["STAGES", "ConsumerMetrics", "build_metrics"]

#: The steps of a batch, in order; each is timed.
STAGES: Final = (
    "poll", "decode", "features", "inference", "encode", "publish", "commit", "metrics",
)  # fmt: skip
STAGE_BUCKETS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
)  # fmt: skip
BATCH_BUCKETS: Final = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000)


@dataclass(frozen=True)
class ConsumerMetrics:
    """Handles on the consumer's own metrics (lag metrics come from LagCollector)."""

    consumed: Counter
    predicted: Counter
    rejected: Counter
    batches: Counter
    commits: Counter
    commit_failures: Counter
    rebalances: Counter
    rebuilt: Counter
    stage_seconds: BatchHistogram
    batch_ticks: BatchHistogram
    end_to_end: BatchHistogram
    probability: BatchHistogram
    assigned: Gauge
    flagged: Counter
    stale_symbols: Gauge
    model: ServedModelMetrics


def build_metrics(registry: CollectorRegistry, topic: str, group: str) -> ConsumerMetrics:
    """Create the consumer metrics on ``registry``, every label set initialised."""
    metrics = ConsumerMetrics(
        consumed=Counter("volstream_consumer_consumed", "Ticks read from Kafka.", ["topic"],
                         registry=registry),
        predicted=Counter("volstream_consumer_predictions", "Predictions the broker acknowledged.",
                          ["topic"], registry=registry),
        rejected=Counter("volstream_consumer_rejected", "Ticks sent to the dead-letter topic.",
                         ["reason"], registry=registry),
        batches=Counter("volstream_consumer_batches", "Micro-batches processed.",
                        registry=registry),
        commits=Counter("volstream_consumer_commits", "Offset commits the broker acknowledged.",
                        registry=registry),
        commit_failures=Counter("volstream_consumer_commit_failures",
                                "Offset commits that failed.", registry=registry),
        rebalances=Counter("volstream_consumer_rebalances",
                           "Partition assignments and revocations.", ["kind"], registry=registry),
        rebuilt=Counter("volstream_consumer_rebuilt_ticks",
                        "Ticks re-read to rebuild rolling state after an assignment.",
                        registry=registry),
        stage_seconds=BatchHistogram("volstream_consumer_batch_stage_seconds",
                                     "Time one batch spent in each stage.", STAGE_BUCKETS,
                                     registry, ["stage"]),
        batch_ticks=BatchHistogram("volstream_consumer_batch_ticks", "Ticks in one batch.",
                                   BATCH_BUCKETS, registry),
        end_to_end=BatchHistogram("volstream_consumer_end_to_end_latency_seconds",
                                  "Event time of a tick to the ack of its prediction.",
                                  LATENCY_BUCKETS, registry),
        probability=BatchHistogram("volstream_consumer_prediction_probability",
                                   "Predicted spike probabilities published, by model version.",
                                   PROBABILITY_BUCKETS, registry, ["model_version"]),
        assigned=Gauge("volstream_consumer_assigned_partitions", "Partitions this process owns.",
                       ["group"], registry=registry),
        flagged=Counter("volstream_consumer_flagged_ticks",
                        "Ticks a data-quality check flagged (still predicted), by reason.",
                        ["reason"], registry=registry),
        stale_symbols=Gauge("volstream_consumer_stale_symbols",
                            "Symbols silent for VOLSTREAM_CONSUMER_STALE_AFTER_SECONDS of their "
                            "partition's event time, while others tick.", ["partition"],
                            registry=registry),
        model=ServedModelMetrics.build(registry),
    )  # fmt: skip
    metrics.consumed.labels(topic)
    for reason in REJECT_REASONS:
        metrics.rejected.labels(reason)
    for stage in STAGES:
        metrics.stage_seconds.labels(stage)
    for kind in ("assign", "revoke"):
        metrics.rebalances.labels(kind)
    metrics.assigned.labels(group)
    for reason in FLAG_REASONS:
        metrics.flagged.labels(reason)
    return metrics
