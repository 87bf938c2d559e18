"""Helpers the benchmark scripts share: medians and Markdown tables (fresh topics come from
volstream.testing)."""

from __future__ import annotations

import statistics
from collections.abc import Callable


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
