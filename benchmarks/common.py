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
        outcomes_topic=f"bench-outcomes-{suffix}",
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


def rates_table(rows: list[tuple[str, float, list[float]]], reference: float, against: str) -> str:
    """A Markdown table of (what, median ticks/s, runs), each median over ``reference``."""
    lines = [
        row("what", "median ticks/s", "runs", f"ratio to {against}"),
        row("---", "---:", "---", "---:"),
    ]
    for name, median, values in rows:
        runs = ", ".join(f"{v:,.0f}" for v in values)
        lines.append(row(name, f"{median:,.0f}", runs, f"{median / reference:.2f}"))
    return "\n".join(lines)
