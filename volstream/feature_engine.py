"""The one feature engine: per-symbol rolling windows over event time, updated per micro-batch.

Training replays history through this engine and the consumer runs it on the
live stream, so the two cannot skew. Arrays go in, a feature matrix comes out,
one row per tick, in input order. The per-tick work is a compiled loop (Numba)
over each symbol's ring buffer of the last 60 s, with running sums for the
windows and monotonic queues for the 60 s high and low.

Each symbol has its own ring, sized to the ticks in its window: it grows by
half when full, shrinks when it holds less than a third, and a symbol silent
for ``QUIET_MS`` of the engine's event time gives its ring back. Only that
symbol's ticks are copied, so a hot symbol never stalls the others.

Every tick changes the state in the same order whatever the batch sizes, so
the features of a stream do not depend on how it was cut into batches.
Definitions and edge cases are in ``docs/features.md``.
"""

from __future__ import annotations

from typing import Final

import numba
import numpy as np
import numpy.typing as npt
from numba.typed import List

from volstream.features import LONGEST_MS, N_FEATURES, N_WINDOWS, WINDOWS_MS
from volstream.ticks import TickBatch

__all__ = ["DUPLICATE", "JUMP_MIN_TICKS", "OUT_OF_ORDER", "PRICE_JUMP", "QUIET_MS",
           "FeatureEngine", "warm"]  # fmt: skip

BPS: Final = 1e4  # basis points per unit
QUIET_MS: Final = 2 * LONGEST_MS  # silent this long by the engine's clock: the ring is given back
SWEEP_MS: Final = 1000  # the clock's step between looks for quiet symbols
MIN_SLOTS: Final = 4
# Data-quality flags of a tick (bits of ``update_flagged``'s second array): a trade id seen
# in the symbol's window (state unchanged), an event time before the symbol's last, a log
# return beyond ``jump_sigmas`` rolling standard deviations (60 s window, at least
# ``JUMP_MIN_TICKS`` ticks in it). Flagged ticks are still folded in and predicted.
DUPLICATE, OUT_OF_ORDER, PRICE_JUMP = 1, 2, 4
JUMP_MIN_TICKS: Final = 20
_W10, _W60 = 0, N_WINDOWS - 1  # window indices (WINDOWS_MS order)
# A symbol's ring: float columns (return, size, price*size, mid) and int columns
# (time, trade id, and the max and min monotonic queues, which hold sequences).
_R, _SIZE, _PV, _MID = range(4)
_TIME, _TRADE, _MAX_QUEUE, _MIN_QUEUE = range(4)
_RING_COLUMNS: Final = 4
_SUM_R2_10, _SUM_R2_30, _SUM_R2_60, _SUM_R_60, _SUM_SIZE_60, _SUM_PV_60 = range(6)
_SUMS: Final = 6
_LAST_TIME, _LAST_TRADE, _END, _STATUS = range(4)  # per-symbol integers
_INTS: Final = 4
_UNSEEN, _ACTIVE, _RELEASED = range(3)  # _STATUS values
_HEAD_TAIL: Final = 2  # a monotonic queue's head and tail
_CLOCK, _NEXT_SWEEP = range(2)
# Feature columns, in FEATURE_NAMES order.
(
    _F_LOG_RETURN, _F_RV_10S, _F_RV_30S, _F_RV_60S, _F_MEAN_RETURN_60S, _F_TICK_COUNT_10S,
    _F_TICK_COUNT_60S, _F_VOLUME_60S, _F_SPREAD_BPS, _F_IMBALANCE, _F_VWAP_DEV_BPS_60S,
    _F_RANGE_BPS_60S, _F_SECONDS_SINCE_PREV,
) = range(N_FEATURES)  # fmt: skip
_PER_SYMBOL: Final = (
    "_starts", "_sums", "_ints", "_last_mid", "_max_ends", "_min_ends", "_last_row",
)  # fmt: skip
_FLOAT_RING = numba.float64[:, ::1]
_INT_RING = numba.int64[:, ::1]


class FeatureEngine:
    """Rolling features per symbol; ``update`` takes a batch and returns its feature rows.

    ``symbols`` is how many symbols the per-symbol tables start with (they
    double as symbols arrive); ``capacity`` the fewest ticks a ring holds.
    """

    def __init__(
        self, symbols: int = 128, capacity: int = MIN_SLOTS, jump_sigmas: float = 0.0
    ) -> None:
        self._slots: dict[str, int] = {}
        self.jump_sigmas = jump_sigmas  # 0: no jump check
        self._symbols = symbols
        self._min_slots = capacity
        self._clock = np.array([np.iinfo(np.int64).min] * 2, dtype=np.int64)
        self._values, self._keys = _no_rings()
        self._allocate(symbols)

    @property
    def state_bytes(self) -> int:
        """Bytes of the state arrays: every symbol's ring and its sums, queues and last row."""
        tables: int = sum(getattr(self, name).nbytes for name in _PER_SYMBOL)
        return tables + self._clock.nbytes + int(_ring_bytes(self._values, self._keys))

    @property
    def symbols(self) -> list[str]:
        """The symbols seen so far, in the order they first appeared."""
        return list(self._slots)

    def ring_slots(self, symbol: str) -> int:
        """Ticks ``symbol``'s ring holds now (0 before its first tick and once released)."""
        return int(self._values[self._slots[symbol]].shape[0])

    def update(self, batch: TickBatch) -> npt.NDArray[np.float64]:
        """Fold ``batch`` into the state; one row of :data:`FEATURE_NAMES` per tick."""
        return self.update_flagged(batch)[0]

    def update_flagged(
        self, batch: TickBatch
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.uint8]]:
        """:meth:`update`, and each tick's data-quality flags (``DUPLICATE`` | ...)."""
        n = len(batch)
        out = np.empty((n, N_FEATURES), dtype=np.float64)
        flags = np.zeros(n, dtype=np.uint8)
        if n == 0:
            return out, flags
        _update(
            self._slot_ids(batch.symbol), batch.event_time_ms, batch.price, batch.size,
            batch.bid, batch.ask, batch.bid_size, batch.ask_size, batch.trade_id,
            self._values, self._keys, *(getattr(self, name) for name in _PER_SYMBOL),
            self._clock, self._min_slots, self.jump_sigmas**2, out, flags,
        )  # type: ignore[call-arg]  # fmt: skip
        return out, flags

    def silent_symbols(self, for_ms: int) -> list[str]:
        """Symbols without a tick for ``for_ms`` of the engine's event time (its latest tick's).

        Measured by event time, a symbol is silent only while others still tick.
        """
        count = len(self._slots)
        if count == 0:  # no tick yet: the clock is unset
            return []
        last = self._ints[:count, _LAST_TIME]
        silent = (self._ints[:count, _STATUS] != _UNSEEN) & (last < self._clock[_CLOCK] - for_ms)
        symbols = self.symbols
        return [symbols[i] for i in np.flatnonzero(silent).tolist()]

    def _slot_ids(self, symbols: list[str]) -> npt.NDArray[np.int64]:
        slots = self._slots
        for symbol in set(symbols) - slots.keys():
            slots[symbol] = len(slots)
        if len(slots) > self._symbols:
            self._grow_symbols(len(slots))
        return np.fromiter(map(slots.__getitem__, symbols), dtype=np.int64, count=len(symbols))

    def _allocate(self, symbols: int) -> None:
        self._starts = np.zeros((symbols, N_WINDOWS), dtype=np.int64)  # first sequence in a window
        self._sums = np.zeros((symbols, _SUMS))
        self._ints = np.zeros((symbols, _INTS), dtype=np.int64)
        self._last_mid = np.zeros(symbols)
        self._max_ends = np.zeros((symbols, _HEAD_TAIL), dtype=np.int64)
        self._min_ends = np.zeros((symbols, _HEAD_TAIL), dtype=np.int64)
        self._last_row = np.zeros((symbols, N_FEATURES))
        _add_rings(self._values, self._keys, symbols)

    def _grow_symbols(self, needed: int) -> None:
        """Widen the per-symbol tables (a few hundred bytes a symbol; the rings stay put)."""
        old = {name: getattr(self, name) for name in _PER_SYMBOL}
        self._symbols = max(needed, 2 * self._symbols)
        self._allocate(self._symbols)
        for name, array in old.items():
            getattr(self, name)[: array.shape[0]] = array


def warm() -> None:
    """Compile the engine into Numba's cache: run after install and in the image, so that a
    process's first assignment loads it (~0.5 s) instead of compiling it (~11 s)."""
    ticks = 3
    columns: dict[str, npt.ArrayLike] = {
        "event_time_ms": [0, 1000, 2000], "price": [1.0] * ticks, "size": [1.0] * ticks,
        "bid": [0.9] * ticks, "ask": [1.1] * ticks, "bid_size": [1.0] * ticks,
        "ask_size": [1.0] * ticks, "is_buy": [True] * ticks, "trade_id": [1, 2, 3],
        "sequence": [1, 2, 3],
    }  # fmt: skip
    FeatureEngine(symbols=1).update(TickBatch.from_columns(["A", "B", "A"], columns))


@numba.njit(cache=True, nogil=True)
def _no_rings():
    """Empty lists of rings (made here, where the compiled code is cached, not in Python)."""
    return List.empty_list(_FLOAT_RING), List.empty_list(_INT_RING)


@numba.njit(cache=True, nogil=True)
def _add_rings(values, keys, symbols):
    """Give every new symbol an empty ring (it is sized at the symbol's first tick)."""
    while len(values) < symbols:
        values.append(np.empty((0, _RING_COLUMNS)))
        keys.append(np.empty((0, _RING_COLUMNS), dtype=np.int64))


@numba.njit(cache=True, nogil=True)
def _ring_bytes(values, keys):
    total = 0
    for s in range(len(values)):
        total += values[s].nbytes + keys[s].nbytes
    return total


@numba.njit(cache=True, nogil=True)
def _resize(s, capacity, first, end, values, keys, max_ends, min_ends):
    """Move symbol ``s``'s sequences ``first..end-1`` and its queues into a ring of ``capacity``."""
    old_values, old_keys = values[s], keys[s]
    old = old_values.shape[0]
    new_values = np.empty((capacity, _RING_COLUMNS))
    new_keys = np.empty((capacity, _RING_COLUMNS), dtype=np.int64)
    if old > 0:
        for seq in range(first, end):
            new_values[seq % capacity] = old_values[seq % old]
            new_keys[seq % capacity, _TIME] = old_keys[seq % old, _TIME]
            new_keys[seq % capacity, _TRADE] = old_keys[seq % old, _TRADE]
        for column, ends in ((_MAX_QUEUE, max_ends), (_MIN_QUEUE, min_ends)):
            for position in range(ends[s, 0], ends[s, 1]):
                new_keys[position % capacity, column] = old_keys[position % old, column]
    values[s] = new_values
    keys[s] = new_keys
    return new_values, new_keys


@numba.njit(cache=True, nogil=True, inline="always")
def _slots_for(ticks, min_slots):
    """Ring size for ``ticks``: half as many again, so growth copies rarely."""
    return max(min_slots, ticks + ticks // 2)


@numba.njit(cache=True, nogil=True, inline="always")
def _leave_windows(s, t, end, values, times, starts, sums):
    """Drop ticks at or before ``t - W`` from each window; re-anchor a window left with one tick."""
    capacity = values.shape[0]
    for w in range(N_WINDOWS):
        first = starts[s, w]
        while first < end - 1 and times[first % capacity, _TIME] <= t - WINDOWS_MS[w]:
            old = first % capacity
            sums[s, w] -= values[old, _R] * values[old, _R]
            if w == 2:
                sums[s, _SUM_R_60] -= values[old, _R]
                sums[s, _SUM_SIZE_60] -= values[old, _SIZE]
                sums[s, _SUM_PV_60] -= values[old, _PV]
            first += 1
        starts[s, w] = first
        if first == end - 1:  # only the new tick is left: exact sums, no drift carried on
            new = first % capacity
            sums[s, w] = values[new, _R] * values[new, _R]
            if w == 2:
                sums[s, _SUM_R_60] = values[new, _R]
                sums[s, _SUM_SIZE_60] = values[new, _SIZE]
                sums[s, _SUM_PV_60] = values[new, _PV]


@numba.njit(cache=True, nogil=True, inline="always")
def _extreme(s, seq, first, sign, column, ends, values, keys):
    """Push ``seq`` on a monotonic queue and return the window's extreme mid (max for sign 1)."""
    capacity = values.shape[0]
    head, tail = ends[s, 0], ends[s, 1]
    value = sign * values[seq % capacity, _MID]
    while tail > head:
        if sign * values[keys[(tail - 1) % capacity, column] % capacity, _MID] > value:
            break
        tail -= 1
    keys[tail % capacity, column] = seq
    tail += 1
    while keys[head % capacity, column] < first:
        head += 1
    ends[s, 0], ends[s, 1] = head, tail
    return values[keys[head % capacity, column] % capacity, _MID]


@numba.njit(cache=True, nogil=True)
def _is_duplicate(trade_id, first, end, keys):
    capacity = keys.shape[0]
    for seq in range(first, end):
        if keys[seq % capacity, _TRADE] == trade_id:
            return True
    return False


@numba.njit(cache=True, nogil=True)
def _release_quiet(clock, ints, values, keys):
    """Give back the ring of every symbol silent for ``QUIET_MS`` by the engine's clock."""
    for s in range(len(values)):
        if ints[s, _STATUS] == _ACTIVE and clock - ints[s, _LAST_TIME] > QUIET_MS:
            values[s] = np.empty((0, _RING_COLUMNS))
            keys[s] = np.empty((0, _RING_COLUMNS), dtype=np.int64)
            ints[s, _STATUS] = _RELEASED


@numba.njit(cache=True, nogil=True)
def _update(
    slots, times, prices, sizes, bids, asks, bid_sizes, ask_sizes, trade_ids, values, keys,
    starts, sums, ints, last_mid, max_ends, min_ends, last_row, clock, min_slots, jump_sigmas2,
    out, flags,
):  # fmt: skip
    """Fold every tick into its symbol's state; write its feature row to ``out`` and its
    data-quality bits to ``flags``."""
    for i in range(len(slots)):
        s = slots[i]
        active, end = ints[s, _STATUS] == _ACTIVE, ints[s, _END]
        ring, keyring = values[s], keys[s]
        if active and trade_ids[i] <= ints[s, _LAST_TRADE]:
            if _is_duplicate(trade_ids[i], starts[s, _W60], end, keyring):
                out[i] = last_row[s]  # a redelivered tick: same features, state unchanged
                flags[i] = DUPLICATE
                continue
        mid = 0.5 * (bids[i] + asks[i])
        t = times[i]
        gap_ms = t - ints[s, _LAST_TIME]
        if not active or gap_ms > LONGEST_MS:  # first tick, back after a long silence, or released
            ret, since = 0.0, LONGEST_MS / 1000.0
            starts[s, :] = end
            sums[s, :] = 0.0
            max_ends[s, :] = end
            min_ends[s, :] = end
        else:
            ret = np.log(mid / last_mid[s])
            if gap_ms < 0:  # out of order: folded in at the symbol's latest time
                t, gap_ms = ints[s, _LAST_TIME], 0
                flags[i] = OUT_OF_ORDER
            in_window = end - starts[s, _W60]
            if (
                jump_sigmas2 > 0
                and in_window >= JUMP_MIN_TICKS
                and ret * ret * in_window > jump_sigmas2 * sums[s, _SUM_R2_60]
            ):
                flags[i] |= PRICE_JUMP
            since = gap_ms / 1000.0
        held = end + 1 - starts[s, _W60]  # the window so far and the new tick
        if held > ring.shape[0]:
            ring, keyring = _resize(s, _slots_for(held, min_slots), starts[s, _W60], end,
                                    values, keys, max_ends, min_ends)  # fmt: skip
        slot = end % ring.shape[0]
        ring[slot, _R] = ret
        ring[slot, _SIZE] = sizes[i]
        ring[slot, _PV] = prices[i] * sizes[i]
        ring[slot, _MID] = mid
        keyring[slot, _TIME] = t
        keyring[slot, _TRADE] = trade_ids[i]
        for w in range(N_WINDOWS):
            sums[s, w] += ret * ret
        sums[s, _SUM_R_60] += ret
        sums[s, _SUM_SIZE_60] += sizes[i]
        sums[s, _SUM_PV_60] += prices[i] * sizes[i]
        end += 1
        _leave_windows(s, t, end, ring, keyring, starts, sums)
        first60 = starts[s, _W60]
        high = _extreme(s, end - 1, first60, 1.0, _MAX_QUEUE, max_ends, ring, keyring)
        low = _extreme(s, end - 1, first60, -1.0, _MIN_QUEUE, min_ends, ring, keyring)

        count60 = end - first60
        size60 = sums[s, _SUM_SIZE_60]
        vwap = sums[s, _SUM_PV_60] / size60 if size60 > 0 else prices[i]
        depth = bid_sizes[i] + ask_sizes[i]
        row = out[i]
        row[_F_LOG_RETURN] = ret
        row[_F_RV_10S] = np.sqrt(max(sums[s, _SUM_R2_10], 0.0))
        row[_F_RV_30S] = np.sqrt(max(sums[s, _SUM_R2_30], 0.0))
        row[_F_RV_60S] = np.sqrt(max(sums[s, _SUM_R2_60], 0.0))
        row[_F_MEAN_RETURN_60S] = sums[s, _SUM_R_60] / count60
        row[_F_TICK_COUNT_10S] = end - starts[s, _W10]
        row[_F_TICK_COUNT_60S] = count60
        row[_F_VOLUME_60S] = max(size60, 0.0)
        row[_F_SPREAD_BPS] = (asks[i] - bids[i]) / mid * BPS
        row[_F_IMBALANCE] = (bid_sizes[i] - ask_sizes[i]) / depth if depth > 0 else 0.0
        row[_F_VWAP_DEV_BPS_60S] = (prices[i] - vwap) / vwap * BPS
        row[_F_RANGE_BPS_60S] = (high - low) / mid * BPS
        row[_F_SECONDS_SINCE_PREV] = since
        last_row[s] = row
        last_mid[s] = mid
        ints[s, _LAST_TIME] = t
        ints[s, _LAST_TRADE] = max(ints[s, _LAST_TRADE], trade_ids[i]) if active else trade_ids[i]
        ints[s, _END] = end
        ints[s, _STATUS] = _ACTIVE
        if 2 * _slots_for(count60 + 1, min_slots) < ring.shape[0]:  # under a third used
            _resize(s, _slots_for(count60 + 1, min_slots), first60, end, values, keys,
                    max_ends, min_ends)  # fmt: skip
        clock[_CLOCK] = max(clock[_CLOCK], times[i])
        if clock[_CLOCK] >= clock[_NEXT_SWEEP]:
            _release_quiet(clock[_CLOCK], ints, values, keys)
            clock[_NEXT_SWEEP] = (clock[_CLOCK] // SWEEP_MS + 1) * SWEEP_MS
