"""Feature-engine throughput on one core.

Synthetic ticks over 100 symbols in batches of 5,000 go through the engine
several times (a fresh engine each run); the median ticks/s is reported next
to a baseline run in the same script on the same ticks: pandas' time-based
rolling windows per symbol (groupby + rolling) under the same incremental
contract (each batch computed with the last 60 s carried over), for just three
of the thirteen features (60 s realized volatility, tick count and volume).

    .venv/bin/python -m benchmarks.bench_features [--batches 400] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from benchmarks.common import median_of, rates_table
from volstream.feature_engine import FeatureEngine
from volstream.settings import synthetic_symbols
from volstream.sources.synthetic import MarketConfig, SyntheticMarket
from volstream.ticks import TickBatch

BATCH = 5000


def make_batches(count: int) -> list[TickBatch]:
    market = SyntheticMarket(
        MarketConfig(synthetic_symbols(100), start_ms=1_767_225_600_000, tick_rate=BATCH, seed=3)
    )
    ticks = TickBatch.concat([market.step() for _ in range(int(count * 1.05) + 1)])
    return [ticks.take(slice(i * BATCH, (i + 1) * BATCH)) for i in range(count)]


def engine_rate(batches: list[TickBatch]) -> float:
    engine = FeatureEngine()
    started = time.perf_counter()
    for batch in batches:
        engine.update(batch)
    return sum(map(len, batches)) / (time.perf_counter() - started)


def pandas_rate(batches: list[TickBatch]) -> float:
    """The same incremental contract in pandas: each batch with the last 60 s carried over."""
    history = pd.DataFrame(columns=["symbol", "time", "mid", "size"]).astype(
        {"time": "datetime64[ms]", "mid": float, "size": float}
    )
    started = time.perf_counter()
    for batch in batches:
        new = pd.DataFrame({
            "symbol": batch.symbol,
            "time": pd.to_datetime(batch.event_time_ms, unit="ms"),
            "mid": (batch.bid + batch.ask) / 2,
            "size": batch.size,
        })  # fmt: skip
        frame = pd.concat([history, new], ignore_index=True)
        frame["r2"] = np.log(frame["mid"]).groupby(frame["symbol"]).diff().fillna(0.0) ** 2
        rolling = frame.set_index("time").groupby("symbol")[["r2", "size"]].rolling("60s")
        sums, counts = rolling.sum(), rolling["size"].count()
        assert len(sums) == len(counts) == len(frame)
        history = frame.loc[frame["time"] > frame["time"].max() - pd.Timedelta("60s"), new.columns]
    return sum(map(len, batches)) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=400)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})  # one core
    batches = make_batches(args.batches)
    engine_rate(batches[:2])  # compile (or load the cached kernel) before timing
    ours, ours_all = median_of(args.runs, lambda: engine_rate(batches))
    base, base_all = median_of(args.runs, lambda: pandas_rate(batches[: args.batches // 10]))
    n = sum(map(len, batches))
    print(f"{n:,} ticks, 100 symbols, batches of {BATCH:,}, one core\n")
    rows = [
        ("FeatureEngine.update, 13 features", ours, ours_all),
        ("pandas groupby + rolling('60s') per batch, 3 features", base, base_all),
    ]
    print(rates_table(rows, base, "pandas"))


if __name__ == "__main__":
    main()
