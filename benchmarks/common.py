"""Helpers the benchmark scripts share: an embedded broker, medians, a table."""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Callable

from volstream.kafka.admin import ensure_topics
from volstream.settings import KafkaSettings


def fresh_topics(bootstrap: str, **overrides: object) -> KafkaSettings:
    """Kafka settings with new topic names, created."""
    suffix = uuid.uuid4().hex[:8]
    kafka = KafkaSettings(
        bootstrap=bootstrap,
        ticks_topic=f"bench-ticks-{suffix}",
        predictions_topic=f"bench-predictions-{suffix}",
        dlq_topic=f"bench-dlq-{suffix}",
        **overrides,  # type: ignore[arg-type]
    )
    ensure_topics(kafka)
    return kafka


def median_of(runs: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    """Median and all values of ``runs`` calls of ``measure``."""
    values = [measure() for _ in range(runs)]
    return statistics.median(values), values


def row(*cells: object) -> str:
    """One Markdown table row."""
    return "| " + " | ".join(str(c) for c in cells) + " |"
