"""A bounded in-memory record of prediction invocations, for ``/metrics/history`` and ``/stats``."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

__all__ = ["Invocation", "InvocationLog", "ModelStats"]


@dataclass(slots=True)  # not frozen: a frozen __init__ is slower, and runs on every request
class Invocation:
    """One call of a prediction endpoint."""

    model: str
    route: str
    time_ms: int
    success: bool
    latency_ms: float
    input_bytes: int
    output_bytes: int
    rows: int


@dataclass(frozen=True, slots=True)
class ModelStats:
    """Totals for one model since start-up (not bounded by the ring)."""

    model: str
    total: int
    successful: int
    failed: int
    success_rate: float
    failure_rate: float
    average_latency_ms: float
    min_latency_ms: float
    max_latency_ms: float
    last_invocation_ms: int


@dataclass
class _Totals:
    total: int = 0
    successful: int = 0
    latency_sum: float = 0.0
    latency_min: float = float("inf")
    latency_max: float = 0.0
    last_ms: int = 0

    def add(self, call: Invocation) -> None:
        self.total += 1
        self.successful += call.success
        self.latency_sum += call.latency_ms
        self.latency_min = min(self.latency_min, call.latency_ms)
        self.latency_max = max(self.latency_max, call.latency_ms)
        self.last_ms = call.time_ms


@dataclass
class InvocationLog:
    """The last ``size`` invocations, and per-model totals over all of them."""

    size: int
    _ring: deque[Invocation] = field(init=False)
    _totals: dict[str, _Totals] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._ring = deque(maxlen=self.size)

    def record(self, call: Invocation) -> None:
        """Keep ``call``, dropping the oldest one when the ring is full."""
        with self._lock:
            self._ring.append(call)
            totals = self._totals.get(call.model)
            if totals is None:
                totals = self._totals[call.model] = _Totals()
            totals.add(call)

    def recent(self, model: str | None, limit: int, offset: int) -> tuple[int, list[Invocation]]:
        """Newest first: how many match ``model`` (None: all), ``limit`` of them from ``offset``."""
        with self._lock:
            calls = [c for c in reversed(self._ring) if model is None or c.model == model]
        return len(calls), calls[offset : offset + limit]

    def stats(self) -> list[ModelStats]:
        """Totals per model, by model name."""
        with self._lock:
            return [_stats(model, t) for model, t in sorted(self._totals.items())]


def _stats(model: str, t: _Totals) -> ModelStats:
    failed = t.total - t.successful
    return ModelStats(
        model=model,
        total=t.total,
        successful=t.successful,
        failed=failed,
        success_rate=t.successful / t.total,
        failure_rate=failed / t.total,
        average_latency_ms=t.latency_sum / t.total,
        min_latency_ms=t.latency_min,
        max_latency_ms=t.latency_max,
        last_invocation_ms=t.last_ms,
    )
