from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from volstream.feature_engine import FeatureEngine
from volstream.features import FEATURE_NAMES
from volstream.sources.synthetic import MarketConfig, SyntheticMarket
from volstream.ticks import TickBatch

START_MS = 1_763_650_000_000
F = {name: i for i, name in enumerate(FEATURE_NAMES)}


def market_ticks(seconds: int = 300, symbols: int = 12, rate: float = 200) -> TickBatch:
    market = SyntheticMarket(
        MarketConfig([f"S{i}" for i in range(symbols)], START_MS, tick_rate=rate, seed=5)
    )
    return TickBatch.concat([market.step() for _ in range(seconds)])


def ticks(
    symbol_times: list[tuple[str, int, float]], trade_ids: list[int] | None = None
) -> TickBatch:
    """Ticks at (symbol, ms offset, mid) with a 2 bp spread and size 1."""
    n = len(symbol_times)
    mids = np.array([m for _, _, m in symbol_times])
    return TickBatch.from_columns(
        [s for s, _, _ in symbol_times],
        {
            "event_time_ms": START_MS + np.array([t for _, t, _ in symbol_times]),
            "price": mids, "size": np.ones(n), "bid": mids * 0.9999, "ask": mids * 1.0001,
            "bid_size": np.full(n, 3.0), "ask_size": np.ones(n), "is_buy": np.ones(n, bool),
            "trade_id": np.array(trade_ids if trade_ids is not None else range(1, n + 1)),
            "sequence": np.arange(n),
        },
    )  # fmt: skip


def test_features_do_not_depend_on_batch_sizes() -> None:
    """No training/serving skew: one batch and random small batches give the same rows."""
    stream = market_ticks()
    whole = FeatureEngine(symbols=2, capacity=8).update(stream)  # small: growth is exercised
    rng = np.random.default_rng(1)
    engine, parts, start = FeatureEngine(), [], 0
    while start < len(stream):
        size = int(rng.integers(1, 400))
        parts.append(engine.update(stream.take(slice(start, start + size))))
        start += size
    pieces = np.vstack(parts)
    assert pieces.shape == (len(stream), len(FEATURE_NAMES))
    np.testing.assert_array_equal(pieces, whole)  # bit for bit, not only to 1e-12


def test_windows_match_a_direct_computation() -> None:
    stream = market_ticks(seconds=120, symbols=3)
    rows = FeatureEngine().update(stream)
    mid = (stream.bid + stream.ask) / 2
    for i in range(0, len(stream), 97):
        mine = [j for j in range(i + 1) if stream.symbol[j] == stream.symbol[i]]
        returns = np.diff(np.log(mid[mine]), prepend=np.log(mid[mine[0]]))
        t = stream.event_time_ms[mine]
        for name, seconds in (("rv_10s", 10), ("rv_30s", 30), ("rv_60s", 60)):
            inside = t > t[-1] - seconds * 1000
            assert rows[i, F[name]] == pytest.approx(
                np.sqrt(np.sum(returns[inside] ** 2)), rel=1e-9
            )
        inside = t > t[-1] - 60_000
        assert rows[i, F["tick_count_60s"]] == inside.sum()
        assert rows[i, F["volume_60s"]] == pytest.approx(stream.size[mine][inside].sum(), rel=1e-9)
        window_mid = mid[mine][inside]
        expected_range = (window_mid.max() - window_mid.min()) / mid[i] * 1e4
        assert rows[i, F["range_bps_60s"]] == pytest.approx(expected_range, rel=1e-9)
        prices, sizes = stream.price[mine][inside], stream.size[mine][inside]
        vwap = (prices * sizes).sum() / sizes.sum()
        assert rows[i, F["vwap_dev_bps_60s"]] == pytest.approx(
            (stream.price[i] - vwap) / vwap * 1e4, rel=1e-6, abs=1e-9
        )


def test_first_tick_of_a_symbol() -> None:
    row = FeatureEngine().update(ticks([("A", 0, 100.0)]))[0]
    assert row[F["log_return"]] == 0 and row[F["rv_60s"]] == 0
    assert row[F["tick_count_10s"]] == 1 and row[F["seconds_since_prev"]] == 60
    assert row[F["spread_bps"]] == pytest.approx(2.0)
    assert row[F["imbalance"]] == pytest.approx(0.5)  # (3 - 1) / (3 + 1)


def test_gap_longer_than_a_window_starts_the_symbol_afresh() -> None:
    rows = FeatureEngine().update(
        ticks([("A", 0, 100.0), ("A", 1000, 101.0), ("A", 70_000, 105.0)])
    )
    assert rows[1, F["log_return"]] == pytest.approx(np.log(101 / 100))
    assert rows[2, F["log_return"]] == 0 and rows[2, F["tick_count_60s"]] == 1
    assert rows[2, F["seconds_since_prev"]] == 60


def test_out_of_order_tick_is_folded_in_at_the_latest_time() -> None:
    rows = FeatureEngine().update(
        ticks([("A", 0, 100.0), ("A", 5000, 101.0), ("A", 3000, 102.0), ("A", 14_500, 102.0)])
    )
    late = rows[2]
    assert late[F["seconds_since_prev"]] == 0
    assert late[F["log_return"]] == pytest.approx(np.log(102 / 101))
    assert late[F["tick_count_10s"]] == 3
    # At 14.5 s the 10 s window keeps what is after 4.5 s: the ticks at 5 s, the late one, and now.
    assert rows[3, F["tick_count_10s"]] == 3


def test_duplicate_trade_id_repeats_features_and_changes_nothing() -> None:
    engine = FeatureEngine()
    first = engine.update(ticks([("A", 0, 100.0), ("A", 1000, 101.0)], trade_ids=[7, 8]))
    again = engine.update(ticks([("A", 1000, 101.0), ("A", 2000, 102.0)], trade_ids=[8, 9]))
    np.testing.assert_array_equal(again[0], first[1])
    assert again[1, F["tick_count_10s"]] == 3
    assert again[1, F["log_return"]] == pytest.approx(np.log(102 / 101))


def test_symbols_do_not_mix() -> None:
    rows = FeatureEngine().update(ticks([("A", 0, 100.0), ("B", 100, 50.0), ("A", 200, 100.5)]))
    assert rows[1, F["log_return"]] == 0 and rows[1, F["tick_count_10s"]] == 1
    assert rows[2, F["log_return"]] == pytest.approx(np.log(100.5 / 100))
    assert rows[2, F["tick_count_10s"]] == 2


def test_empty_batch() -> None:
    assert FeatureEngine().update(ticks([])).shape == (0, len(FEATURE_NAMES))


def scheduled_ticks(schedule: dict[str, list[tuple[int, int, float]]], seed: int = 2) -> TickBatch:
    """Poisson ticks per symbol at (from s, to s, ticks/s) segments, merged in time order."""
    rng = np.random.default_rng(seed)
    symbols, times = [], []
    for symbol, segments in schedule.items():
        for start, stop, rate in segments:
            n = rng.poisson(rate * (stop - start))
            times.append(np.sort(rng.uniform(start * 1000, stop * 1000, n)).astype(np.int64))
            symbols += [symbol] * n
    order = np.argsort(np.concatenate(times), kind="stable")
    offsets = np.concatenate(times)[order]
    names = [symbols[i] for i in order.tolist()]
    mids = 100 * np.exp(np.cumsum(rng.normal(0, 1e-4, len(names))))
    return ticks([(s, int(t), m) for s, t, m in zip(names, offsets, mids, strict=True)])


def with_redeliveries(stream: TickBatch, every: int = 37, later: int = 25) -> TickBatch:
    """``stream`` with every ``every``-th tick delivered again ``later`` ticks on."""
    order = list(range(len(stream)))
    for i in range(len(stream) - later - 1, 0, -every):
        order.insert(i + later, i)
    return stream.take(np.array(order))


# HOT turns hot then cools (its ring grows, then shrinks); QUIET goes silent for two and a
# half minutes (its ring is given back) and returns; the tail ticks slowly throughout.
SKEWED = {
    "HOT": [(0, 60, 2), (60, 90, 300), (90, 240, 1)],
    "QUIET": [(0, 40, 50), (190, 240, 5)],
    **{f"T{i}": [(0, 240, 0.1 * (i + 1))] for i in range(8)},
}


def test_ring_sizes_follow_each_symbol_and_never_change_the_features() -> None:
    """Rings of 1 slot at least or of 64: the same rows, bit for bit, in any batches."""
    stream = with_redeliveries(scheduled_ticks(SKEWED))
    whole = FeatureEngine(symbols=2, capacity=1).update(stream)
    roomy = FeatureEngine(capacity=64).update(stream)
    rng = np.random.default_rng(4)
    engine, parts, start = FeatureEngine(), [], 0
    while start < len(stream):
        size = int(rng.integers(1, 300))
        parts.append(engine.update(stream.take(slice(start, start + size))))
        start += size
    np.testing.assert_array_equal(roomy, whole)
    np.testing.assert_array_equal(np.vstack(parts), whole)


def test_a_hot_symbol_grows_alone_and_shrinks_when_it_cools() -> None:
    stream = scheduled_ticks(SKEWED)
    at = {"calm": 60_000, "hot": 90_000, "cooled": 180_000}
    engine, slots, last = FeatureEngine(), {}, 0
    for moment, offset in at.items():
        upto = int(np.searchsorted(stream.event_time_ms, START_MS + offset))
        engine.update(stream.take(slice(last, upto)))
        last = upto
        slots[moment] = {s: engine.ring_slots(s) for s in ("HOT", "T7")}
    in_window = np.count_nonzero(
        (np.array(stream.symbol) == "HOT") & (stream.event_time_ms > START_MS + 30_000)
        & (stream.event_time_ms <= START_MS + 90_000)
    )  # fmt: skip
    assert slots["calm"]["HOT"] < 300 <= in_window <= slots["hot"]["HOT"] <= 2 * in_window
    assert slots["cooled"]["HOT"] < slots["hot"]["HOT"] / 10  # 1 tick/s: about 60 held
    assert slots["calm"]["T7"] == slots["hot"]["T7"] == slots["cooled"]["T7"]


def test_a_quiet_symbol_gives_its_ring_back_and_returns_afresh() -> None:
    stream = scheduled_ticks(SKEWED)
    quiet = np.array(stream.symbol) == "QUIET"
    back = int(np.argmax(quiet & (stream.event_time_ms >= START_MS + 190_000)))
    engine = FeatureEngine()
    engine.update(stream.take(slice(0, back)))
    assert engine.ring_slots("QUIET") == 0  # silent 150 s while the others ticked
    row = engine.update(stream.take(slice(back, back + 1)))[0]
    assert row[F["tick_count_60s"]] == 1 and row[F["seconds_since_prev"]] == 60
    assert engine.ring_slots("QUIET") > 0


def test_a_tick_a_window_late_for_a_released_symbol_starts_it_afresh() -> None:
    """The one case where the engine's clock, not the symbol's own ticks, decides."""
    engine = FeatureEngine()
    engine.update(ticks([("A", 0, 100.0), ("B", 0, 50.0), ("B", 125_000, 50.0)]))
    assert engine.ring_slots("A") == 0  # B moved the clock 125 s past A's last tick
    late = engine.update(ticks([("A", 30_000, 101.0)], trade_ids=[9]))[0]
    assert late[F["tick_count_60s"]] == 1 and late[F["log_return"]] == 0


WARM_PROBE = """
import time
from volstream import feature_engine
from volstream.testing.payloads import tick_payload
from volstream.ticks import decode_batch
payloads = [tick_payload(), tick_payload(symbol="ETH-USD")]
batch = decode_batch(payloads, now_ms=int(time.time() * 1000))
feature_engine.FeatureEngine(symbols=16).update(batch)  # as the consumer's first batch does
dispatchers = [getattr(feature_engine, name) for name in dir(feature_engine)]
print(sum(len(d.stats.cache_misses) for d in dispatchers if hasattr(d, "stats")))
"""


def test_warm_leaves_nothing_for_the_consumer_to_compile(tmp_path: Path) -> None:
    """What `make` and the image run after install: a later process only loads the engine."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    warm = "from volstream.feature_engine import warm; warm()"
    subprocess.run([sys.executable, "-c", warm], env=env, check=True, timeout=300)
    probe = subprocess.run([sys.executable, "-c", WARM_PROBE], env=env, check=True,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert probe.stdout.strip() == "0", "functions compiled after warm()"
