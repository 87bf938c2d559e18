from __future__ import annotations

import numpy as np

from volstream.sources.synthetic import MarketConfig, SyntheticMarket
from volstream.ticks import TickBatch, decode_batch, encode_tick

START_MS = 1_763_650_000_000


def run(seconds: int, **config: object) -> list[TickBatch]:
    fields: dict[str, object] = {"symbols": [f"S{i}" for i in range(10)], "start_ms": START_MS}
    fields.update(config)
    market = SyntheticMarket(MarketConfig(**fields))  # type: ignore[arg-type]
    return [market.step() for _ in range(seconds)]


def test_same_seed_same_ticks_other_seed_other_ticks() -> None:
    a, b, c = run(5, seed=1), run(5, seed=1), run(5, seed=2)
    assert [t.to_ticks() for t in a] == [t.to_ticks() for t in b]
    assert a[0].price.tolist() != c[0].price.tolist()


def test_ticks_are_valid_ordered_and_at_the_rate() -> None:
    batches = run(30, tick_rate=500)
    times = np.concatenate([b.event_time_ms for b in batches])
    assert np.all(np.diff(times) >= 0)
    assert START_MS <= times[0] and times[-1] < START_MS + 30_000
    assert 0.9 * 500 * 30 < len(times) < 1.1 * 500 * 30
    payloads = [encode_tick(t) for b in batches for t in b.to_ticks()]
    decoded = decode_batch(payloads, now_ms=START_MS + 30_000)
    assert decoded.rejects == [] and len(decoded) == len(times)


def test_trade_ids_rise_per_symbol() -> None:
    batches = run(10)
    for symbol in ("S0", "S5"):
        ids = [
            int(i)
            for b in batches
            for s, i in zip(b.symbol, b.trade_id, strict=True)
            if s == symbol
        ]
        assert ids == list(range(ids[0], ids[0] + len(ids)))


def _second_returns(batches: list[TickBatch], symbol: str) -> np.ndarray:
    last_price = [
        next(
            (p for s, p in zip(reversed(b.symbol), b.price[::-1], strict=True) if s == symbol),
            np.nan,
        )
        for b in batches
    ]
    prices = np.array(last_price, dtype=float)
    prices = prices[~np.isnan(prices)]
    return np.diff(np.log(prices))


def test_volatility_clusters_and_regimes_switch() -> None:
    batches = run(3600, symbols=["A", "B", "C"], tick_rate=60, seed=11)
    returns = _second_returns(batches, "A")
    rolling = np.sqrt(np.convolve(returns**2, np.ones(60) / 60, mode="valid"))
    assert rolling.max() > 3 * np.median(rolling), "volatility spikes exist"
    absolute = np.abs(returns)
    autocorrelation = np.corrcoef(absolute[:-1], absolute[1:])[0, 1]
    assert autocorrelation > 0.05, "large moves follow large moves"


def test_volatility_scale_moves_the_regime() -> None:
    calm = np.std(_second_returns(run(600, seed=3), "S1"))
    wild = np.std(_second_returns(run(600, seed=3, volatility_scale=3.0), "S1"))
    assert 2.0 < wild / calm < 4.5
