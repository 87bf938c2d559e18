"""Per-partition lag state of this consumer, and the collector that exports it at scrape time.

Gauges are computed when Prometheus scrapes, from the last known offsets and
the current time, so time lag keeps growing while a consumer is stuck, and the
series of a partition disappear the moment it is revoked.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from volstream.lag import Health, LagSample, judge, offset_lag

__all__ = ["LagCollector", "LagTracker", "PartitionState"]

RATE_WINDOW_SECONDS = 10.0
#: key -> (metric name after volstream_consumer_, help); labels group, topic, partition.
PARTITION_GAUGES = {
    "position": ("position", "Next offset this consumer will process."),
    "committed": ("committed_offset", "Offset the group committed (the next to read)."),
    "high": ("high_watermark", "Partition high watermark, as last read."),
    "lag": ("lag_records", "High watermark minus committed offset, never below 0."),
    "position_lag": ("position_lag_records", "High watermark minus this consumer's position."),
    "lag_seconds": (
        "lag_seconds",
        "Now minus the event time of the next unprocessed record; 0 when caught up.",
    ),
    "last_event": ("last_event_time_seconds", "Event time of the last processed record."),
    "progress": ("last_progress_time_seconds", "Wall time the committed offset last moved."),
    "health": ("lag_health", "0 ok, 1 warning, 2 stalled, 3 stopped (see docs/metrics.md)."),
}


@dataclass
class PartitionState:
    """What the consumer knows about one owned partition."""

    position: int = -1  # next offset to process
    committed: int = -1
    high_watermark: int = -1
    last_event_ms: int | None = None  # event time of the last processed record
    next_event_ms: int | None = None  # event time of the record at ``position``, when peeked
    last_progress: float | None = None  # wall time the committed offset last moved
    samples: deque[LagSample] = field(default_factory=deque)

    def lag(self) -> int:
        return offset_lag(self.high_watermark, self.committed)

    def position_lag(self) -> int:
        return offset_lag(self.high_watermark, self.position)

    def lag_seconds(self, now: float) -> float:
        """Now minus the event time of the next unprocessed record; 0 when caught up."""
        if self.position_lag() == 0:
            return 0.0
        event_ms = self.next_event_ms if self.next_event_ms is not None else self.last_event_ms
        return max(now - event_ms / 1000, 0.0) if event_ms is not None else 0.0


class LagTracker:
    """Lag state of the partitions this process owns; safe to read from the metrics thread."""

    def __init__(self, window: float, stopped_after: float) -> None:
        self.window = window
        self.stopped_after = stopped_after
        self.partitions: dict[int, PartitionState] = {}
        self.last_commit: float | None = None
        self.turned_at: float | None = None  # monotonic time the batch loop last went round
        self._processed: deque[tuple[float, int]] = deque()  # (wall time, ticks) per batch
        self.lock = threading.Lock()

    def turn(self) -> None:
        """The batch loop went round once (the liveness probe's heartbeat)."""
        self.turned_at = time.monotonic()

    def assign(self, partitions: Iterable[int], committed: dict[int, int]) -> None:
        with self.lock:
            for p in partitions:
                self.partitions[p] = PartitionState(
                    position=committed.get(p, -1), committed=committed.get(p, -1)
                )
            self.last_commit = self.last_commit or time.time()

    def revoke(self, partitions: Iterable[int]) -> None:
        with self.lock:
            for p in partitions:
                self.partitions.pop(p, None)

    def processed(
        self, last_offsets: dict[int, int], last_events: dict[int, int], ticks: int
    ) -> None:
        """A batch was processed: positions move past its last offsets."""
        now = time.time()
        with self.lock:
            for p, offset in last_offsets.items():
                if p in self.partitions:
                    state = self.partitions[p]
                    state.position = offset + 1
                    state.last_event_ms = last_events[p]
                    state.next_event_ms = None
            self._processed.append((now, ticks))
            while self._processed and self._processed[0][0] < now - RATE_WINDOW_SECONDS:
                self._processed.popleft()

    def committed(self, offsets: dict[int, int]) -> None:
        now = time.time()
        with self.lock:
            self.last_commit = now
            for p, offset in offsets.items():
                state = self.partitions.get(p)
                if state is not None and offset != state.committed:
                    state.committed = offset
                    state.last_progress = now

    def watermarks(self, highs: dict[int, int], next_events: dict[int, int]) -> None:
        """New high watermarks (and peeked event times); takes a health sample."""
        now = time.time()
        with self.lock:
            for p, high in highs.items():
                state = self.partitions.get(p)
                if state is None:
                    continue
                state.high_watermark = high
                if p in next_events:
                    state.next_event_ms = next_events[p]
                state.samples.append(LagSample(now, state.committed, state.lag()))
                while state.samples and state.samples[0].at < now - 2 * self.window:
                    state.samples.popleft()

    def stale_positions(self) -> dict[int, int]:
        """Lagging partitions whose next record's event time is not known."""
        with self.lock:
            return {
                p: s.position
                for p, s in self.partitions.items()
                if s.position_lag() > 0 and s.next_event_ms is None and s.position >= 0
            }

    def rate(self) -> float:
        """Ticks processed per second over the last ten seconds."""
        with self.lock:
            if not self._processed:
                return 0.0
            span = max(time.time() - self._processed[0][0], 1.0)
            return sum(n for _, n in self._processed) / span

    def health(self, p: int, now: float) -> Health:
        state = self.partitions[p]
        return judge(state.samples, now, self.last_commit, self.window, self.stopped_after)


class LagCollector(Collector):
    """Exports the tracker's state as gauges, computed at scrape time."""

    def __init__(
        self, tracker: LagTracker, topic: str, group: str, registry: CollectorRegistry
    ) -> None:
        self._tracker, self._topic, self._group = tracker, topic, group
        registry.register(self)

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        tracker, now = self._tracker, time.time()
        labels = ["group", "topic", "partition"]

        def family(name: str, text: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"volstream_consumer_{name}", text, labels=labels)

        families = {key: family(name, text) for key, (name, text) in PARTITION_GAUGES.items()}
        with tracker.lock:
            total_lag, max_seconds = 0, 0.0
            for p, state in sorted(tracker.partitions.items()):
                values = [self._group, self._topic, str(p)]
                lag_seconds = state.lag_seconds(now)
                total_lag += state.lag()
                max_seconds = max(max_seconds, lag_seconds)
                rows = {
                    "position": state.position, "committed": state.committed,
                    "high": state.high_watermark, "lag": state.lag(),
                    "position_lag": state.position_lag(), "lag_seconds": lag_seconds,
                    "last_event": (state.last_event_ms or 0) / 1000,
                    "progress": state.last_progress or 0.0,
                    "health": int(tracker.health(p, now)),
                }  # fmt: skip
                for key, value in rows.items():
                    families[key].add_metric(values, float(value))
        yield from families.values()
        group = [self._group]
        yield _gauge(
            "group_lag_records", "Sum of committed lag over owned partitions.", group, total_lag
        )
        yield _gauge(
            "group_max_lag_seconds", "Largest time lag over owned partitions.", group, max_seconds
        )


def _gauge(name: str, text: str, group: list[str], value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(f"volstream_consumer_{name}", text, labels=["group"])
    family.add_metric(group, value)
    return family
