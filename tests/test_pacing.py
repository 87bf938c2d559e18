from __future__ import annotations

import numpy as np

from volstream.producer.pacing import EventTimePacer, FixedRatePacer, Unpaced
from volstream.ticks import TickBatch


def batch_at(times_ms: list[int]) -> TickBatch:
    n = len(times_ms)
    floats = {name: np.ones(n) for name in ("price", "size", "bid", "ask", "bid_size", "ask_size")}
    return TickBatch(
        index=np.arange(n), symbol=["A"] * n, event_time_ms=np.array(times_ms, dtype=np.int64),
        is_buy=np.ones(n, dtype=bool), trade_id=np.arange(n), sequence=np.arange(n), **floats,
    )  # fmt: skip


def test_fixed_rate_spaces_ticks_evenly_across_batches() -> None:
    pacer = FixedRatePacer(rate=4, start=100.0)
    assert pacer.due(batch_at([0, 0]), sent=0).tolist() == [100.0, 100.25]
    assert pacer.due(batch_at([0]), sent=2).tolist() == [100.5]


def test_event_time_pacing_keeps_recorded_gaps_scaled_and_never_goes_back() -> None:
    pacer = EventTimePacer(speed=2.0, start=10.0)
    assert pacer.due(batch_at([1000, 3000, 2000, 5000]), sent=0).tolist() == [
        10.0,
        11.0,
        11.0,
        12.0,
    ]
    assert pacer.due(batch_at([9000]), sent=4).tolist() == [14.0]


def test_unpaced_is_due_now() -> None:
    assert Unpaced().due(batch_at([5, 6]), sent=0).tolist() == [0.0, 0.0]
