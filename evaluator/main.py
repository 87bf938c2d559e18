"""``volstream evaluate``: settings → metrics → windows restored from ``outcomes`` → the loop.

The loop itself is :class:`evaluator.stream.Evaluator`.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import msgspec
from confluent_kafka import TopicPartition
from prometheus_client import CollectorRegistry

from volstream.errors import BrokerError
from volstream.evaluator.judge import count, counts_of
from volstream.evaluator.metrics import QualityCollector, build_metrics
from volstream.evaluator.quality import QualityWindows
from volstream.evaluator.shadow import ShadowModels
from volstream.evaluator.stream import Evaluator
from volstream.evaluator.versions import VersionBook
from volstream.kafka.admin import wait_for_broker
from volstream.kafka.clients import make_reader
from volstream.kafka.reading import read_to_end
from volstream.lag import peek_event_times
from volstream.metrics import serve_metrics
from volstream.model.registry import ModelRegistry
from volstream.outcomes import decode_outcome
from volstream.settings import EvaluateSettings, KafkaSettings, ModelSettings

__all__ = ["EvaluateSummary", "build", "restore_windows", "run"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluateSummary:
    """What a run did."""

    outcomes: int
    restored: int
    seconds: float

    def line(self) -> str:
        return (f"outcomes={self.outcomes} restored={self.restored} "
                f"elapsed={self.seconds:.2f}s")  # fmt: skip


def run(
    kafka: KafkaSettings,
    settings: EvaluateSettings,
    model: ModelSettings,
    stop: threading.Event,
    registry: CollectorRegistry | None = None,
) -> EvaluateSummary:
    """Judge predictions until ``stop`` (or the end, with ``stop_at_end``)."""
    registry = registry or CollectorRegistry()
    started = time.monotonic()
    evaluator = None
    with serve_metrics(registry, settings.metrics_port, "evaluator"):
        try:
            evaluator = build(kafka, settings, model, registry)
            evaluator.run(stop)
        finally:
            if evaluator is not None:
                evaluator.close()
    summary = EvaluateSummary(evaluator.published, evaluator.restored,
                              time.monotonic() - started)  # fmt: skip
    log.info("evaluator finished: %s", summary.line())
    return summary


def build(
    kafka: KafkaSettings, settings: EvaluateSettings, model: ModelSettings,
    registry: CollectorRegistry,
) -> Evaluator:  # fmt: skip
    """Metrics on ``registry``, the windows restored from the outcomes topic, the evaluator."""
    metrics = build_metrics(registry, settings)
    windows, lock = QualityWindows(settings.window_ms()), threading.Lock()
    versions = VersionBook(ModelRegistry(model.registry), settings.horizon_seconds)
    QualityCollector(windows, lock, versions.test_figures, registry)
    check_topics(kafka)
    restored = restore_windows(kafka, windows, lock)
    shadows = ShadowModels(model)
    evaluator = Evaluator(kafka, settings, versions, shadows, metrics, windows, lock)
    evaluator.restored = restored
    return evaluator


def check_topics(kafka: KafkaSettings) -> None:
    """The outcomes topic exists with a partition for each partition of predictions."""
    topics = wait_for_broker(kafka).topics
    counts = {
        name: len(topics[name].partitions) if name in topics else 0
        for name in (kafka.predictions_topic, kafka.outcomes_topic)
    }
    if counts[kafka.outcomes_topic] < counts[kafka.predictions_topic]:
        msg = (
            f"topic {kafka.outcomes_topic} has {counts[kafka.outcomes_topic]} partitions and "
            f"{kafka.predictions_topic} {counts[kafka.predictions_topic]}: outcomes needs as many "
            "(`volstream topics create` makes both)"
        )
        raise BrokerError(msg)


def restore_windows(kafka: KafkaSettings, windows: QualityWindows, lock: threading.Lock) -> int:
    """Count the outcomes already published within the longest window (after a restart)."""
    topic = kafka.outcomes_topic
    reader = make_reader(kafka, "evaluate")
    try:
        partitions = list(reader.list_topics(topic, timeout=kafka.timeout_seconds)
                          .topics[topic].partitions)  # fmt: skip
        highs = {p: reader.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
                 for p in partitions}  # fmt: skip
        newest = peek_event_times(reader, {(topic, p): h - 1 for p, h in highs.items() if h > 0})
        if not newest:
            return 0
        since_ms = max(newest.values()) - max(windows.windows_ms.values()) - windows.slot_ms
        found = reader.offsets_for_times(
            [TopicPartition(topic, p, since_ms) for p in partitions], timeout=5
        )
        starts = {tp.partition: tp.offset if tp.offset >= 0 else highs[tp.partition]
                  for tp in found}  # fmt: skip
        restored = 0
        for records in read_to_end(reader, topic, starts, kafka.timeout_seconds):
            outcomes = [decode_outcome(r.value() or b"") for r in records]
            recent = [o for o in outcomes if o.label_time_ms >= since_ms]
            count(windows, lock, counts_of(recent))
            restored += len(recent)
    except msgspec.DecodeError as e:
        msg = f"{topic} holds a record that is not an outcome: {e}"
        raise BrokerError(msg) from e
    finally:
        reader.close()
    log.info("quality windows restored from %d outcomes of %s", restored, topic)
    return restored
