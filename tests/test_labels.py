"""The label's one definition: streamed in batches, it gives what a whole history gives."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from volstream.labels import SQUARE_CAP, SQUARE_UNIT, HorizonTracker, realized_volatility

HORIZON_MS = 5_000


def market(n: int = 6000, symbols: int = 7, seed: int = 1) -> tuple[npt.NDArray[np.int64], ...]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, symbols, n)
    times = np.sort(rng.integers(0, 60_000, n))
    returns = rng.normal(0, 0.01, n)
    returns[rng.random(n) < 0.01] = np.nan  # a symbol's first tick has no return
    return ids, times, returns


def by_hand(
    ids: npt.NDArray[np.int64],
    times: npt.NDArray[np.int64],
    returns: npt.NDArray[np.float64],
    horizon_ms: int,
) -> npt.NDArray[np.float64]:
    """The definition, one tick at a time: later ticks of the symbol up to t + H."""
    effective = np.empty_like(times)
    latest: dict[int, int] = {}
    for i, (s, t) in enumerate(zip(ids.tolist(), times.tolist(), strict=True)):
        effective[i] = latest[s] = max(t, latest.get(s, t))
    units = np.rint(np.minimum(np.nan_to_num(returns) ** 2, SQUARE_CAP) / SQUARE_UNIT)
    result = np.full(len(ids), np.nan)
    for i in range(len(ids)):
        if effective[i] + horizon_ms > effective.max():
            continue
        after = np.arange(len(ids)) > i
        later = after & (ids == ids[i]) & (effective <= effective[i] + horizon_ms)
        result[i] = np.sqrt(units[later].sum() * SQUARE_UNIT)
    return result


def test_a_whole_history_follows_the_definition() -> None:
    ids, times, returns = market(1500)
    expected = by_hand(ids, times, returns, HORIZON_MS)
    got = realized_volatility(ids, times, returns, HORIZON_MS)
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    assert np.array_equal(got[~np.isnan(got)], expected[~np.isnan(expected)])  # bit for bit


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batches_of_any_size_give_the_same_numbers(seed: int) -> None:
    ids, times, returns = market(seed=seed)
    whole = realized_volatility(ids, times, returns, HORIZON_MS)
    rng = np.random.default_rng(seed)
    tracker = HorizonTracker(HORIZON_MS, capacity=8)  # grows and compacts many times
    taken, start = [], 0
    while start < len(ids):
        end = start + int(rng.integers(1, 400))
        tracker.add(ids[start:end], times[start:end], returns[start:end])
        start = end
        if rng.random() < 0.7:
            taken.append(tracker.take(tracker.closed()))
    streamed = np.concatenate([*taken, tracker.take(tracker.closed())])
    assert len(streamed) == int(np.sum(~np.isnan(whole)))  # every covered tick, none past the end
    assert np.array_equal(streamed, whole[: len(streamed)])


def test_a_window_closes_when_the_stream_passes_its_end() -> None:
    tracker = HorizonTracker(1000)
    tracker.add(np.array([0, 1]), np.array([0, 10]), np.array([0.0, 0.0]))
    tracker.add(np.array([0]), np.array([500]), np.array([0.02]))
    assert tracker.closed() == 0
    tracker.add(np.array([1]), np.array([1000]), np.array([0.0]))  # another symbol at t + H
    assert tracker.closed() == 0  # the symbol may still tick at exactly t + H
    tracker.add(np.array([1]), np.array([1001]), np.array([0.0]))
    assert tracker.closed() == 1
    assert tracker.take(1)[0] == pytest.approx(0.02, rel=1e-12)


def test_a_late_tick_counts_at_its_symbols_latest_time() -> None:
    ids = np.array([0, 0, 0, 0])
    times = np.array([0, 2000, 500, 3500])  # the third is late: it counts at 2000
    returns = np.array([0.0, 0.01, 0.03, 0.05])
    got = realized_volatility(ids, times, returns, 1500)
    assert got[0] == pytest.approx(0.0)  # nothing after 0 within 1500
    assert got[1] == pytest.approx(np.hypot(0.03, 0.05))  # 2000 + 1500 reaches 3500
    assert np.isnan(got[3])


def test_a_huge_move_is_capped_and_nothing_overflows() -> None:
    ids = np.zeros(3, dtype=np.int64)
    got = realized_volatility(ids, np.array([0, 1, 2]), np.array([0.0, 5.0, 0.1]), 2)
    assert got[0] == pytest.approx(np.sqrt(SQUARE_CAP + 0.01))
