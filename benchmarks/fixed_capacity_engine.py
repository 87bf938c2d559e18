"""The one feature engine: per-symbol rolling windows over event time, updated per micro-batch.

Training replays history through this engine and the consumer runs it on the
live stream, so the two cannot skew. Arrays go in, a feature matrix comes out,
one row per tick, in input order. The per-tick work is a compiled loop (Numba)
over each symbol's ring buffer of the last 60 s, with running sums for the
windows and monotonic queues for the 60 s high and low.

Every tick changes the state in the same order whatever the batch sizes, so
the features of a stream do not depend on how it was cut into batches.
Definitions and edge cases are in ``docs/features.md``.
"""

from __future__ import annotations

import logging
from typing import Final

import numba
import numpy as np
import numpy.typing as npt

from volstream.features import LONGEST_MS, N_FEATURES, N_WINDOWS, WINDOWS_MS
from volstream.ticks import TickBatch

__all__ = ["FeatureEngine"]

log = logging.getLogger(__name__)

BPS: Final = 1e4  # basis points per unit
_W10, _W60 = 0, N_WINDOWS - 1  # window indices (WINDOWS_MS order)
# Ring columns (float): return, size, price*size, mid. Sums per symbol: see _SUM_*.
_R, _SIZE, _PV, _MID = range(4)
_RING_COLUMNS: Final = 4
_SUM_R2_10, _SUM_R2_30, _SUM_R2_60, _SUM_R_60, _SUM_SIZE_60, _SUM_PV_60 = range(6)
_SUMS: Final = 6
_LAST_TIME, _LAST_TRADE, _END, _SEEN = range(4)  # per-symbol integers
_INTS: Final = 4
_HEAD_TAIL: Final = 2  # a monotonic queue's head and tail
# Feature columns, in FEATURE_NAMES order.
(
    _F_LOG_RETURN, _F_RV_10S, _F_RV_30S, _F_RV_60S, _F_MEAN_RETURN_60S, _F_TICK_COUNT_10S,
    _F_TICK_COUNT_60S, _F_VOLUME_60S, _F_SPREAD_BPS, _F_IMBALANCE, _F_VWAP_DEV_BPS_60S,
    _F_RANGE_BPS_60S, _F_SECONDS_SINCE_PREV,
) = range(N_FEATURES)  # fmt: skip
_STATE: Final = (
    "_ring", "_ring_time", "_ring_trade", "_starts", "_sums", "_ints", "_last_mid",
    "_max_queue", "_min_queue", "_max_ends", "_min_ends", "_last_row",
)  # fmt: skip
_RINGS: Final = ("_ring", "_ring_time", "_ring_trade", "_max_queue", "_min_queue")


class FeatureEngine:
    """Rolling features per symbol; ``update`` takes a batch and returns its feature rows."""

    def __init__(self, symbols: int = 128, capacity: int = 1024) -> None:
        self._slots: dict[str, int] = {}
        self._symbols = symbols
        self._capacity = capacity
        self._allocate(symbols, capacity)

    @property
    def state_bytes(self) -> int:
        """Bytes of the state arrays (rings, queues, sums), allocated for every symbol slot."""
        return sum(getattr(self, name).nbytes for name in _STATE)

    @property
    def symbols(self) -> list[str]:
        """The symbols seen so far, in the order they first appeared."""
        return list(self._slots)

    def update(self, batch: TickBatch) -> npt.NDArray[np.float64]:
        """Fold ``batch`` into the state; one row of :data:`FEATURE_NAMES` per tick."""
        n = len(batch)
        out = np.empty((n, N_FEATURES), dtype=np.float64)
        if n == 0:
            return out
        slots = self._slot_ids(batch.symbol)
        start = 0
        while start < n:
            start = _update(
                start, slots, batch.event_time_ms, batch.price, batch.size, batch.bid, batch.ask,
                batch.bid_size, batch.ask_size, batch.trade_id,
                *(getattr(self, name) for name in _STATE), out,
            )  # type: ignore[call-arg]  # fmt: skip
            if start < n:
                self._grow_ring()
        return out

    def _slot_ids(self, symbols: list[str]) -> npt.NDArray[np.int64]:
        slots = self._slots
        for symbol in set(symbols) - slots.keys():
            slots[symbol] = len(slots)
        if len(slots) > self._symbols:
            self._grow_symbols(len(slots))
        return np.fromiter(map(slots.__getitem__, symbols), dtype=np.int64, count=len(symbols))

    def _allocate(self, symbols: int, capacity: int) -> None:
        self._ring = np.zeros((symbols, capacity, _RING_COLUMNS))
        self._ring_time = np.zeros((symbols, capacity), dtype=np.int64)
        self._ring_trade = np.zeros((symbols, capacity), dtype=np.int64)
        self._starts = np.zeros((symbols, N_WINDOWS), dtype=np.int64)  # first sequence in a window
        self._sums = np.zeros((symbols, _SUMS))
        self._ints = np.zeros((symbols, _INTS), dtype=np.int64)
        self._last_mid = np.zeros(symbols)
        self._max_queue = np.zeros((symbols, capacity), dtype=np.int64)
        self._min_queue = np.zeros((symbols, capacity), dtype=np.int64)
        self._max_ends = np.zeros((symbols, _HEAD_TAIL), dtype=np.int64)
        self._min_ends = np.zeros((symbols, _HEAD_TAIL), dtype=np.int64)
        self._last_row = np.zeros((symbols, N_FEATURES))

    def _grow_symbols(self, needed: int) -> None:
        old = {name: getattr(self, name) for name in _STATE}
        self._symbols = max(needed, 2 * self._symbols)
        self._allocate(self._symbols, self._capacity)
        for name, array in old.items():
            getattr(self, name)[: array.shape[0]] = array

    def _grow_ring(self) -> None:
        """Double the ring so that a symbol's last 60 s fit (sequence numbers stay valid).

        Counter c lived at c % old capacity and now lives at c % (2 x old capacity):
        the new ring is the old one twice over, a plain copy (fancy indexing was slow
        enough to show as pauses in the consumer's latency).
        """
        for name in _RINGS:
            ring = getattr(self, name)
            setattr(self, name, np.concatenate([ring, ring], axis=1))
        self._capacity *= 2
        log.debug("feature ring grown to %d ticks per symbol", self._capacity)


@numba.njit(cache=True, nogil=True, inline="always")
def _leave_windows(s, t, end, ring, ring_time, starts, sums, capacity):
    """Drop ticks at or before ``t - W`` from each window; re-anchor a window left with one tick."""
    for w in range(N_WINDOWS):
        first = starts[s, w]
        while first < end - 1 and ring_time[s, first % capacity] <= t - WINDOWS_MS[w]:
            old = first % capacity
            sums[s, w] -= ring[s, old, _R] * ring[s, old, _R]
            if w == 2:
                sums[s, _SUM_R_60] -= ring[s, old, _R]
                sums[s, _SUM_SIZE_60] -= ring[s, old, _SIZE]
                sums[s, _SUM_PV_60] -= ring[s, old, _PV]
            first += 1
        starts[s, w] = first
        if first == end - 1:  # only the new tick is left: exact sums, no drift carried on
            new = first % capacity
            sums[s, w] = ring[s, new, _R] * ring[s, new, _R]
            if w == 2:
                sums[s, _SUM_R_60] = ring[s, new, _R]
                sums[s, _SUM_SIZE_60] = ring[s, new, _SIZE]
                sums[s, _SUM_PV_60] = ring[s, new, _PV]


@numba.njit(cache=True, nogil=True, inline="always")
def _extreme(s, seq, first, sign, queue, ends, ring, capacity):
    """Push ``seq`` on a monotonic queue and return the window's extreme mid (max for sign 1)."""
    head, tail = ends[s, 0], ends[s, 1]
    value = sign * ring[s, seq % capacity, _MID]
    while tail > head and sign * ring[s, queue[s, (tail - 1) % capacity] % capacity, _MID] <= value:
        tail -= 1
    queue[s, tail % capacity] = seq
    tail += 1
    while queue[s, head % capacity] < first:
        head += 1
    ends[s, 0], ends[s, 1] = head, tail
    return ring[s, queue[s, head % capacity] % capacity, _MID]


@numba.njit(cache=True, nogil=True)
def _is_duplicate(s, trade_id, end, ring_trade, starts, capacity):
    for seq in range(max(starts[s, _W60], end - capacity), end):
        if ring_trade[s, seq % capacity] == trade_id:
            return True
    return False


@numba.njit(cache=True, nogil=True)
def _update(
    start, slots, times, prices, sizes, bids, asks, bid_sizes, ask_sizes, trade_ids,
    ring, ring_time, ring_trade, starts, sums, ints, last_mid, max_queue, min_queue,
    max_ends, min_ends, last_row, out,
):  # fmt: skip
    """Process ticks from ``start``; returns the index reached (< n when the ring must grow)."""
    capacity = ring.shape[1]
    for i in range(start, len(slots)):
        s = slots[i]
        seen, end = ints[s, _SEEN], ints[s, _END]
        if seen and trade_ids[i] <= ints[s, _LAST_TRADE]:
            if _is_duplicate(s, trade_ids[i], end, ring_trade, starts, capacity):
                out[i] = last_row[s]  # a redelivered tick: same features, state unchanged
                continue
        if end - starts[s, _W60] + 1 > capacity:
            return i
        mid = 0.5 * (bids[i] + asks[i])
        t = times[i]
        gap_ms = t - ints[s, _LAST_TIME]
        if not seen or gap_ms > LONGEST_MS:  # first tick, or back after a long silence
            ret, since = 0.0, LONGEST_MS / 1000.0
            starts[s, :] = end
            sums[s, :] = 0.0
            max_ends[s, :] = end
            min_ends[s, :] = end
        else:
            ret = np.log(mid / last_mid[s])
            if gap_ms < 0:  # out of order: folded in at the symbol's latest time
                t, gap_ms = ints[s, _LAST_TIME], 0
            since = gap_ms / 1000.0
        slot = end % capacity
        ring[s, slot, _R] = ret
        ring[s, slot, _SIZE] = sizes[i]
        ring[s, slot, _PV] = prices[i] * sizes[i]
        ring[s, slot, _MID] = mid
        ring_time[s, slot] = t
        ring_trade[s, slot] = trade_ids[i]
        for w in range(N_WINDOWS):
            sums[s, w] += ret * ret
        sums[s, _SUM_R_60] += ret
        sums[s, _SUM_SIZE_60] += sizes[i]
        sums[s, _SUM_PV_60] += prices[i] * sizes[i]
        end += 1
        _leave_windows(s, t, end, ring, ring_time, starts, sums, capacity)
        first60 = starts[s, _W60]
        high = _extreme(s, end - 1, first60, 1.0, max_queue, max_ends, ring, capacity)
        low = _extreme(s, end - 1, first60, -1.0, min_queue, min_ends, ring, capacity)

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
        ints[s, _LAST_TRADE] = max(ints[s, _LAST_TRADE], trade_ids[i]) if seen else trade_ids[i]
        ints[s, _END] = end
        ints[s, _SEEN] = 1
    return len(slots)
