"""Feature-engine throughput on one core, and its memory on a skewed market.

Synthetic ticks over 100 symbols in batches of 5,000 go through the engine
several times (a fresh engine each run); the median ticks/s is reported next
to baselines run in the same script on the same ticks: pandas' time-based
rolling windows per symbol (groupby + rolling) under the same incremental
contract (each batch computed with the last 60 s carried over), for just three
of the thirteen features (60 s realized volatility, tick count and volume),
and the engine as it was before per-symbol rings (``fixed_capacity_engine``).

Then memory, for both engines: the same uniform market, and two minutes of a
skewed one, whose symbols' rates follow Zipf's law (the busiest at 100
ticks/s), over 1,000 and 10,000 symbols. For each: ticks/s, the engine's
state (its arrays, as allocated), the resident memory a fresh process gained
while one engine ran, and the bytes of the ticks that the state must hold,
those inside each symbol's 60 s window at the end (64 bytes a tick: the
ring's four values, time and trade id, and two queue entries).
``--skip-memory`` leaves this part out.

    .venv/bin/python -m benchmarks.bench_features [--batches 400] [--runs 5] [--skip-memory]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from benchmarks import fixed_capacity_engine
from benchmarks.common import median_of, rates_table, row
from volstream.feature_engine import FeatureEngine
from volstream.settings import synthetic_symbols
from volstream.sources.synthetic import MarketConfig, SyntheticMarket
from volstream.ticks import TickBatch

BATCH = 5000
START_MS = 1_767_225_600_000
WINDOW_MS = 60_000
SLOT_BYTES = 64  # a tick held: 4 ring values, its time and trade id, 2 queue entries
ZIPF_EXPONENT = 1.1
BUSIEST_RATE = 100.0  # ticks/s of the busiest symbol of a skewed market
SKEWED_SECONDS = 120
FIXED = "fixed capacity (before)"
ENGINES = {"per-symbol rings": FeatureEngine, FIXED: fixed_capacity_engine.FeatureEngine}
Engine = FeatureEngine | fixed_capacity_engine.FeatureEngine


def make_batches(count: int) -> list[TickBatch]:
    market = SyntheticMarket(
        MarketConfig(synthetic_symbols(100), start_ms=1_767_225_600_000, tick_rate=BATCH, seed=3)
    )
    ticks = TickBatch.concat([market.step() for _ in range(int(count * 1.05) + 1)])
    return [ticks.take(slice(i * BATCH, (i + 1) * BATCH)) for i in range(count)]


def zipf_batches(symbols: int, seed: int = 5) -> list[TickBatch]:
    """Two minutes of ``symbols`` whose rates follow Zipf's law, the busiest at
    ``BUSIEST_RATE``: Poisson arrivals, prices jittering around 100, in batches."""
    rng = np.random.default_rng(seed)
    rates = BUSIEST_RATE / np.arange(1, symbols + 1) ** ZIPF_EXPONENT
    ids = np.repeat(np.arange(symbols), rng.poisson(rates * SKEWED_SECONDS))
    times = rng.uniform(0, SKEWED_SECONDS * 1000, len(ids))
    order = np.argsort(times)
    ids, n = ids[order], len(ids)
    price = 100 * np.exp(rng.normal(0, 1e-3, n))
    ticks = TickBatch.from_columns([f"Z{i:05d}" for i in ids], {
        "event_time_ms": START_MS + times[order].astype(np.int64), "price": price,
        "size": rng.exponential(1.0, n), "bid": price * (1 - 1e-4), "ask": price * (1 + 1e-4),
        "bid_size": rng.exponential(5.0, n), "ask_size": rng.exponential(5.0, n),
        "is_buy": rng.random(n) < 0.5, "trade_id": np.arange(n), "sequence": np.arange(n),
    })  # fmt: skip
    return [ticks.take(slice(i, i + BATCH)) for i in range(0, n, BATCH)]


def window_bytes(batches: list[TickBatch]) -> int:
    """Bytes of the ticks inside each symbol's last 60 s at the end of ``batches``."""
    _, slots = np.unique([s for batch in batches for s in batch.symbol], return_inverse=True)
    times = np.concatenate([batch.event_time_ms for batch in batches])
    last = np.full(slots.max() + 1, np.iinfo(np.int64).min)
    np.maximum.at(last, slots, times)
    return int(np.count_nonzero(times > last[slots] - WINDOW_MS)) * SLOT_BYTES


def resident_bytes() -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def market_batches(symbols: int, uniform_batches: int) -> list[TickBatch]:
    """The uniform market (``symbols`` 100) or two minutes of a Zipf market of ``symbols``."""
    return make_batches(uniform_batches) if symbols == 100 else zipf_batches(symbols)


def resident_gain(engine_name: str, symbols: int, uniform_batches: int) -> tuple[int, int]:
    """In a fresh process: the engine's state and the resident bytes gained while it ran."""
    batches, engine = market_batches(symbols, uniform_batches), ENGINES[engine_name]()
    engine_rate(ENGINES[engine_name], batches[:1])  # load the compiled kernel first
    gc.collect()
    before = resident_bytes()
    for batch in batches:
        engine.update(batch)
    return engine.state_bytes, resident_bytes() - before


def memory_rows(name: str, symbols: int, uniform_batches: int, runs: int) -> list[str]:
    """Per engine: ticks/s (median, and ÷ the fixed-capacity one's), state, resident, window."""
    batches = market_batches(symbols, uniform_batches)
    needed, ticks, mb = window_bytes(batches), sum(map(len, batches)), 2**20
    rates = {name: median for name, (median, _) in engines_rates(batches, runs).items()}
    lines = []
    for engine_name, rate in rates.items():
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(1, mp_context=spawn) as fresh:
            measured = fresh.submit(resident_gain, engine_name, symbols, uniform_batches)
            state, gained = measured.result()
        lines.append(row(name, engine_name, f"{ticks:,}", f"{rate:,.0f}",
                         f"{rate / rates[FIXED]:.2f}", f"{state / mb:,.1f}", f"{gained / mb:,.1f}",
                         f"{needed / mb:,.2f}", f"{state / needed:,.2f}"))  # fmt: skip
    return lines


def engines_rates(batches: list[TickBatch], runs: int) -> dict[str, tuple[float, list[float]]]:
    """Median and all ticks/s of each engine, their runs taking turns (the machine's noise
    then falls on both alike)."""
    for engine in ENGINES.values():
        engine_rate(engine, batches[:2])  # compile (or load the cached kernel) before timing
    rates: dict[str, list[float]] = {name: [] for name in ENGINES}
    for _ in range(runs):
        for name, engine in ENGINES.items():
            rates[name].append(engine_rate(engine, batches))
    return {name: (statistics.median(values), values) for name, values in rates.items()}


def engine_rate(engine: type[Engine], batches: list[TickBatch]) -> float:
    """Ticks/s of a fresh ``engine`` over ``batches``."""
    features = engine()
    started = time.perf_counter()
    for batch in batches:
        features.update(batch)
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
    parser.add_argument("--skip-memory", action="store_true", help="throughput only")
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})  # one core
    batches = make_batches(args.batches)
    rates = engines_rates(batches, args.runs)
    (ours, ours_all), (fixed, fixed_all) = rates["per-symbol rings"], rates[FIXED]
    base, base_all = median_of(args.runs, lambda: pandas_rate(batches[: args.batches // 10]))
    n = sum(map(len, batches))
    print(f"{n:,} ticks, 100 symbols, batches of {BATCH:,}, one core\n")
    rows = [
        ("FeatureEngine.update, 13 features", ours, ours_all),
        ("the same, fixed-capacity rings (before per-symbol rings)", fixed, fixed_all),
        ("pandas groupby + rolling('60s') per batch, 3 features", base, base_all),
    ]
    print(rates_table(rows, base, "pandas"))
    print(f"\nper-symbol rings / fixed capacity: {ours / fixed:.2f}")
    if args.skip_memory:
        return
    print("\nmemory, one engine, one core\n")
    print(row("market", "engine", "ticks", "ticks/s", "÷ fixed capacity", "state MiB",
              "resident MiB gained", "window's ticks MiB", "state / window"))  # fmt: skip
    print(row("---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"))
    markets = {100: "uniform, 100 symbols"} | {
        n: f"Zipf {ZIPF_EXPONENT}, {n:,} symbols" for n in (1000, 10_000)
    }
    for symbols, market in markets.items():
        print("\n".join(memory_rows(market, symbols, args.batches, args.runs)), flush=True)


if __name__ == "__main__":
    main()
