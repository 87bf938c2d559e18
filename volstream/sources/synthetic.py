"""A synthetic market with volatility clustering, regime switches and jumps.

Each symbol's log price is a random walk whose volatility is the product of

* a regime, calm or volatile, switching as a Markov chain (a calm spell lasts
  15 minutes on average, a volatile one 3 minutes);
* a clustering factor ``exp(x)``, with ``x`` an AR(1) process per second;
* jumps: rare price jumps that also excite ``x``, so volatility spikes after them.

Trades arrive as a Poisson process whose intensity rises with volatility; the
total rate across symbols is ``tick_rate`` ticks per simulated second. The
spread widens with volatility. The same seed gives the same ticks.

The seed also draws each symbol's traits (price level, base volatility,
activity, spread, trade size). ``path_seed``, when set, draws everything after
the traits: another path of the same market, which a drift check must see as
"no drift".
The simulation advances one second at a time, vectorised over symbols and ticks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from volstream.ticks import TickBatch

__all__ = ["MarketConfig", "SyntheticMarket"]

REGIME_VOL: Final = np.array([1.0, 3.5])  # calm, volatile
REGIME_SWITCH_PER_SECOND: Final = np.array([1 / 900, 1 / 180])  # leave calm, leave volatile
AR_PHI: Final = 0.98  # clustering decays with a half-life of ~35 s
AR_NOISE: Final = 0.08
JUMP_PER_SECOND: Final = 1 / 1200
JUMP_EXCITATION: Final = 1.2  # added to x after a jump: volatility ~3x for a while
JUMP_SIGMAS: Final = 15.0  # jump size in one-second standard deviations
SIGNIFICANT_DIGITS: Final = 6


@dataclass(frozen=True)
class MarketConfig:
    """What to simulate."""

    symbols: list[str]
    start_ms: int
    tick_rate: float = 1000.0
    seed: int = 7
    volatility_scale: float = 1.0
    path_seed: int | None = None


@dataclass
class SyntheticMarket:
    """An endless, reproducible stream of synthetic ticks (a :class:`TickSource`)."""

    config: MarketConfig
    skipped: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        n = len(self.config.symbols)
        self._rng = np.random.default_rng(self.config.seed)
        rng = self._rng
        self._names = np.array(self.config.symbols, dtype=object)
        self._log_price = np.log(rng.lognormal(np.log(100), 1.5, n))
        self._base_sigma = 2e-4 * rng.lognormal(0, 0.3, n)  # per-second log-return sd
        self._activity = rng.lognormal(0, 0.5, n)
        self._spread_bps = rng.uniform(1, 6, n)
        self._size_scale = rng.lognormal(0, 1, n)
        if self.config.path_seed is not None:
            self._rng = rng = np.random.default_rng(self.config.path_seed)
        self._decimals = (SIGNIFICANT_DIGITS - np.floor(np.log10(np.exp(self._log_price)))).clip(0)
        self._regime = (rng.random(n) < 0.15).astype(np.int64)
        self._x = rng.normal(0, 0.3, n)
        self._last_time = np.zeros(n)
        self._trade_id = rng.integers(1_000_000, 9_000_000, n)
        self._sequence = rng.integers(10**9, 2 * 10**9, n)
        self._second = 0

    def batches(self) -> Iterator[TickBatch]:
        """One batch per simulated second, forever."""
        while True:
            batch = self.step()
            if len(batch):
                yield batch

    def step(self) -> TickBatch:
        """Advance one simulated second and return its ticks in event-time order."""
        sigma = self._advance_volatility()
        counts = self._rng.poisson(self._intensity(sigma))
        symbol_index = np.repeat(np.arange(len(counts)), counts)
        times = self._second + self._rng.random(len(symbol_index))
        times = times[np.lexsort((times, symbol_index))]  # grouped by symbol, time order within
        self._second += 1
        log_price = self._walk(symbol_index, counts, times, sigma)
        return self._ticks(symbol_index, counts, times, log_price, sigma)

    def _advance_volatility(self) -> npt.NDArray[np.float64]:
        rng, n = self._rng, len(self._regime)
        switch = rng.random(n) < REGIME_SWITCH_PER_SECOND[self._regime]
        self._regime = np.where(switch, 1 - self._regime, self._regime)
        self._x = AR_PHI * self._x + AR_NOISE * rng.normal(size=n)
        jumped = rng.random(n) < JUMP_PER_SECOND
        sigma = self._sigma()
        self._log_price += np.where(jumped, rng.normal(0, JUMP_SIGMAS, n) * sigma, 0.0)
        self._x += np.where(jumped, JUMP_EXCITATION, 0.0)
        return self._sigma()

    def _sigma(self) -> npt.NDArray[np.float64]:
        regime = REGIME_VOL[self._regime]
        sigma: npt.NDArray[np.float64] = (
            self._base_sigma * regime * np.exp(self._x) * self.config.volatility_scale
        )
        return sigma

    def _intensity(self, sigma: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        weight = self._activity * np.sqrt(sigma / self._base_sigma)
        intensity: npt.NDArray[np.float64] = weight / weight.sum() * self.config.tick_rate
        return intensity

    def _walk(
        self,
        symbol_index: npt.NDArray[np.int64],
        counts: npt.NDArray[np.int64],
        times: npt.NDArray[np.float64],
        sigma: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.float64]:
        """Log prices of the ticks: Brownian steps over the gaps since each symbol's last tick."""
        active = counts > 0
        first = (np.cumsum(counts) - counts)[active]
        last = first + counts[active] - 1
        previous = np.empty_like(times)
        previous[1:] = times[:-1]
        previous[first] = self._last_time[active]
        gaps = np.maximum(times - previous, 1e-6)
        steps = sigma[symbol_index] * np.sqrt(gaps) * self._rng.normal(size=len(times))
        running = np.cumsum(steps)
        before_group = np.repeat(running[first] - steps[first], counts[active])
        log_price = self._log_price[symbol_index] + running - before_group
        self._log_price[active] = log_price[last]
        self._last_time[active] = times[last]
        return np.asarray(log_price, dtype=np.float64)

    def _ticks(
        self,
        symbol_index: npt.NDArray[np.int64],
        counts: npt.NDArray[np.int64],
        times: npt.NDArray[np.float64],
        log_price: npt.NDArray[np.float64],
        sigma: npt.NDArray[np.float64],
    ) -> TickBatch:
        rng, n = self._rng, len(times)
        mid = np.exp(log_price)
        stress = (sigma / self._base_sigma)[symbol_index] ** 0.6
        half_spread = mid * self._spread_bps[symbol_index] * stress * rng.lognormal(0, 0.2, n) / 2e4
        decimals = self._decimals[symbol_index]
        scale = 10.0**decimals
        bid = np.floor((mid - half_spread) * scale) / scale
        ask = np.maximum(np.ceil((mid + half_spread) * scale) / scale, bid + 1 / scale)
        is_buy = rng.random(n) < 0.5
        size_scale = self._size_scale[symbol_index]
        rank = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
        trade_id = self._trade_id[symbol_index] + rank
        sequence = self._sequence[symbol_index] + rank
        self._trade_id += counts
        self._sequence += counts
        order = np.argsort(times, kind="stable")
        columns = {
            "event_time_ms": self.config.start_ms + np.floor(times * 1000).astype(np.int64),
            "price": np.where(is_buy, ask, bid),
            "size": np.round(size_scale * rng.lognormal(0, 1, n), 6),
            "bid": bid,
            "ask": ask,
            "bid_size": np.round(size_scale * rng.lognormal(1, 0.8, n), 6),
            "ask_size": np.round(size_scale * rng.lognormal(1, 0.8, n), 6),
            "is_buy": is_buy,
            "trade_id": trade_id,
            "sequence": sequence,
        }
        return TickBatch.from_columns(
            self._names[symbol_index[order]].tolist(),
            {name: values[order] for name, values in columns.items()},
        )
