"""``volstream produce``: settings → metrics → source and producer → paced publish loop."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from prometheus_client import CollectorRegistry

from volstream.metrics import serve_metrics
from volstream.producer.metrics import ProducerMetrics, build_metrics
from volstream.producer.pacing import EventTimePacer, FixedRatePacer, Pacer, Unpaced
from volstream.producer.publisher import TickPublisher
from volstream.settings import KafkaSettings, ProducerSettings
from volstream.sources import TickSource
from volstream.sources.coinbase import CoinbaseTickerStream
from volstream.sources.synthetic import MarketConfig, SyntheticMarket
from volstream.ticks import TickBatch

__all__ = ["ProduceSummary", "run"]

log = logging.getLogger(__name__)

#: Simulated ticks per second when sending as fast as possible (rate 0).
NOMINAL_SYNTHETIC_RATE: Final = 1000.0
FLUSH_TIMEOUT_SECONDS: Final = 10.0
MAX_SLEEP_SECONDS: Final = 0.05  # the longest the loop sleeps before it looks at stop again
# Paced ticks go out in small groups, a little late: a loop that wakes per tick burns a core,
# and a coarser grain shows in the end-to-end p99 (docs/benchmarks.md, latency).
PACING_GRANULARITY_SECONDS: Final = 0.002


@dataclass(frozen=True)
class ProduceSummary:
    """What a run did."""

    sent: int
    failed: int
    skipped: int
    seconds: float

    @property
    def rate(self) -> float:
        """Acknowledged ticks per second."""
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """One line for people."""
        return (
            f"sent={self.sent} failed={self.failed} skipped={self.skipped} "
            f"elapsed={self.seconds:.2f}s rate={self.rate:,.0f} ticks/s"
        )


Progress = Callable[[int], None]


def run(
    kafka: KafkaSettings,
    settings: ProducerSettings,
    stop: threading.Event,
    registry: CollectorRegistry | None = None,
    progress: Progress | None = None,
) -> ProduceSummary:
    """Publish ticks from the configured source until it ends, a limit is reached, or ``stop``."""
    registry = registry or CollectorRegistry()
    metrics = build_metrics(registry, kafka.ticks_topic)
    with serve_metrics(registry, settings.metrics_port, "producer"):
        publisher = TickPublisher(kafka, kafka.ticks_topic, metrics)
        source = open_source(settings, stop, metrics)  # after the metadata wait: event time ~ now
        loop = _Loop(settings, source, publisher, metrics, stop, progress)
        started = time.monotonic()
        try:
            loop.run()
        finally:
            publisher.flush(FLUSH_TIMEOUT_SECONDS)
            publisher.close()
    skipped = sum(source.skipped.values())
    loop.record_skipped()
    summary = ProduceSummary(publisher.acked, publisher.failed, skipped, time.monotonic() - started)
    log.info("producer finished: %s", summary.line())
    return summary


def open_source(
    settings: ProducerSettings, stop: threading.Event, metrics: ProducerMetrics
) -> TickSource:
    """The source the settings name."""
    if settings.source == "replay":
        from volstream.sources.files import FileReplay  # pandas and pyarrow: only to replay

        return FileReplay([Path(f) for f in settings.files])
    if settings.source == "coinbase":
        return CoinbaseTickerStream(
            url=settings.coinbase_url,
            products=settings.symbol_names(),
            stop=stop,
            heartbeat_timeout=settings.heartbeat_timeout_seconds,
            on_reconnect=metrics.reconnects.inc,
        )
    rate = settings.rate or NOMINAL_SYNTHETIC_RATE
    now_ms = int(time.time() * 1000)
    # Sent faster than real time (unpaced, or --speed), a known count is back-dated to end
    # about now: event times never run ahead of the clock.
    faster = not settings.rate or settings.speed is not None
    backfill_ms = int((settings.count or 0) / rate * 1000) if faster else 0
    return SyntheticMarket(
        MarketConfig(
            symbols=settings.symbol_names(),
            start_ms=now_ms - backfill_ms,
            tick_rate=rate,
            seed=settings.seed,
            volatility_scale=settings.volatility_scale,
            path_seed=settings.path_seed,
        )
    )


def choose_pacer(settings: ProducerSettings) -> Pacer:
    """Recorded pace for --speed and for synthetic ticks (simulated at --rate), else --rate."""
    if settings.source == "coinbase":
        return Unpaced()
    if settings.speed is not None:
        return EventTimePacer(settings.speed)
    if settings.rate == 0:
        return Unpaced()
    if settings.source == "synthetic":
        return EventTimePacer(1.0)
    return FixedRatePacer(settings.rate)


class _Loop:
    """Takes batches from the source and sends each tick when it is due."""

    def __init__(
        self,
        settings: ProducerSettings,
        source: TickSource,
        publisher: TickPublisher,
        metrics: ProducerMetrics,
        stop: threading.Event,
        progress: Progress | None,
    ) -> None:
        self.source, self.publisher, self.metrics = source, publisher, metrics
        self.stop, self.progress = stop, progress
        self.pacer = choose_pacer(settings)
        self.limit = settings.count
        self.deadline = (
            time.monotonic() + settings.duration_seconds if settings.duration_seconds else None
        )
        self.sent = 0
        self._skipped_seen: Counter[str] = Counter()

    def run(self) -> None:
        for batch in self.source.batches():
            if self.limit is not None:
                batch = batch.take(slice(0, self.limit - self.sent))
            self._send_when_due(batch)
            self.record_skipped()
            if self._done():
                return

    def _done(self) -> bool:
        out_of_time = self.deadline is not None and time.monotonic() >= self.deadline
        return self.stop.is_set() or out_of_time or self.sent == self.limit

    def _send_when_due(self, batch: TickBatch) -> None:
        due = self.pacer.due(batch, self.sent)
        start = 0
        while start < len(batch) and not self._done():
            now = time.monotonic()
            ready = int(due.searchsorted(now, side="right"))
            if ready <= start:
                wait = due[start] - now + PACING_GRANULARITY_SECONDS
                self.publisher.poll(min(wait, MAX_SLEEP_SECONDS))
                continue
            self._send(batch.take(slice(start, ready)))
            start = ready

    def _send(self, batch: TickBatch) -> None:
        self.publisher.publish(batch)
        self.sent += len(batch)
        newest = int(batch.event_time_ms.max()) / 1000
        self.metrics.last_event_time.set(newest)
        self.metrics.source_lag.set(max(time.time() - newest, 0.0))
        if self.progress:
            self.progress(len(batch))

    def record_skipped(self) -> None:
        """Bring the skipped counters up to the source's own count."""
        for reason, count in self.source.skipped.items():
            new = count - self._skipped_seen[reason]
            if new:
                self.metrics.skipped.labels(reason).inc(new)
                self._skipped_seen[reason] = count
