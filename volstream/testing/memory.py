"""An in-memory tick source and prediction sink."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from volstream.kafka.sender import SymbolKeys
from volstream.predictions import Prediction, decode_prediction
from volstream.sources.synthetic import MarketConfig, SyntheticMarket
from volstream.testing.fakes import FakeBroker
from volstream.ticks import Tick, TickBatch, encode_ticks

__all__ = ["MemorySource", "PredictionSink", "publish_ticks", "synthetic_ticks"]


def synthetic_ticks(
    count: int,
    symbols: int = 4,
    tick_rate: float = 200.0,
    seed: int = 7,
    start_ms: int | None = None,
) -> list[Tick]:
    """``count`` ticks of the synthetic market (``tick_rate`` a simulated second, all symbols
    together), in event-time order, from ``start_ms`` (an hour ago if None)."""
    names = [f"SYN-{i:03d}" for i in range(symbols)]
    start = int(time.time() * 1000) - 3_600_000 if start_ms is None else start_ms
    market = SyntheticMarket(MarketConfig(names, start, tick_rate=tick_rate, seed=seed))
    ticks: list[Tick] = []
    for batch in market.batches():
        ticks.extend(batch.to_ticks()[: count - len(ticks)])
        if len(ticks) >= count:
            return ticks
    return ticks  # pragma: no cover - the market never ends


@dataclass
class MemorySource:
    """A :class:`~volstream.sources.TickSource` of ticks in memory, ``batch_size`` at a time."""

    ticks: Sequence[Tick]
    batch_size: int = 500
    skipped: Counter[str] = field(default_factory=Counter)

    def batches(self) -> Iterator[TickBatch]:
        it = iter(self.ticks)
        while chunk := list(itertools.islice(it, self.batch_size)):
            yield TickBatch.from_ticks(chunk)


def publish_ticks(broker: FakeBroker, topic: str, ticks: Sequence[Tick]) -> None:
    """Put ``ticks`` on a fake topic as the producer would: key symbol, timestamp event time."""
    keys = SymbolKeys().of(t.symbol for t in ticks)
    for tick, value, key in zip(ticks, encode_ticks(ticks), keys, strict=True):
        broker.append(topic, value, key, tick.event_time_ms)


@dataclass
class PredictionSink:
    """The predictions a stage published to a fake topic, decoded."""

    broker: FakeBroker
    topic: str

    def predictions(self) -> list[Prediction]:
        return [decode_prediction(m.value() or b"") for m in self.broker.messages(self.topic)]

    def by_source(self) -> dict[tuple[int, int], Prediction]:
        """Each prediction by the (partition, offset) of the tick it was made for."""
        return {(p.source_partition, p.source_offset): p for p in self.predictions()}
