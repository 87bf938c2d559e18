"""The label's one definition: a tick's realized volatility over the next H seconds.

For a tick of symbol s at time t, the realized volatility is ``sqrt(Σ r²)`` over
the log returns r of the ticks of s that come after it, up to and including
time t + H. Training labels a replayed history with it; the evaluator labels
the live stream with it, so a streamed outcome and a training label of the
same tick are the same number, bit for bit.

Two choices make that exact whatever the batches:

- Squared returns are summed as integers (units of 2⁻⁵⁰, each capped at 1,
  a 100 % move), with wrapping 64-bit arithmetic: a window's sum is then the
  difference of two running sums, exact whoever started counting where.
- A tick's time is the running maximum of its symbol's event times, so a late
  tick counts at the latest time seen, and the ticks of a symbol are always in
  time order.

A tick's window closes when a later tick of its symbol passes t + H, or when
the stream's watermark (the newest time seen) does; ``final`` closes, at the
end of a finite history, every window that the data covers. A tick arriving
after its symbol's window was closed by the watermark is not counted in that
window: the only case where a stream can differ from its replay.
"""

from __future__ import annotations

from typing import Final, TypeVar

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["SQUARE_CAP", "SQUARE_UNIT", "HorizonTracker", "realized_volatility"]

SQUARE_UNIT: Final = 2.0**-50  # the integer unit of a squared return
SQUARE_CAP: Final = 1.0  # a squared log return counts at most this much
_NONE: Final = -1
_EARLIEST: Final = np.iinfo(np.int64).min
_T = TypeVar("_T", bound=np.generic)


@numba.njit(cache=True, nogil=True)
def _append(symbols, times, returns, horizon_ms, first_row, base,
            row_time, row_sum, row_end, row_closed, row_next,
            symbol_sum, symbol_time, symbol_head, symbol_tail):  # fmt: skip
    """Add rows, closing the open windows of each row's symbol that it passes; the newest time."""
    watermark = _EARLIEST
    for k in range(len(symbols)):
        s = symbols[k]
        t = max(times[k], symbol_time[s])
        symbol_time[s] = t
        _close_symbol(s, t, False, horizon_ms, base, row_time, row_end, row_closed, row_next,
                      symbol_sum, symbol_head, symbol_tail)  # fmt: skip
        r = returns[k]
        square = min(r * r, SQUARE_CAP) if r == r else 0.0  # NaN counts as no move
        symbol_sum[s] += np.uint64(np.rint(square / SQUARE_UNIT))
        row = first_row + k
        j = row - base
        row_time[j], row_sum[j], row_closed[j], row_next[j] = t, symbol_sum[s], False, _NONE
        if symbol_tail[s] == _NONE:
            symbol_head[s] = row
        else:
            row_next[symbol_tail[s] - base] = row
        symbol_tail[s] = row
        watermark = max(watermark, t)
    return watermark


@numba.njit(cache=True, nogil=True)
def _close_until(limit_ms, inclusive, horizon_ms, base, row_time, row_end, row_closed, row_next,
                 symbol_sum, symbol_head, symbol_tail):  # fmt: skip
    """Close every open window ending before ``limit_ms`` (or at it, if ``inclusive``)."""
    for s in range(len(symbol_head)):
        _close_symbol(s, limit_ms, inclusive, horizon_ms, base, row_time, row_end, row_closed,
                      row_next, symbol_sum, symbol_head, symbol_tail)  # fmt: skip


@numba.njit(cache=True, nogil=True)
def _close_symbol(s, limit_ms, inclusive, horizon_ms, base, row_time, row_end, row_closed,
                  row_next, symbol_sum, symbol_head, symbol_tail):  # fmt: skip
    """Close symbol ``s``'s open windows (oldest first) that end before ``limit_ms``."""
    i = symbol_head[s]
    while i != _NONE:
        end = row_time[i - base] + horizon_ms
        if end > limit_ms or (end == limit_ms and not inclusive):
            break
        row_end[i - base] = symbol_sum[s]
        row_closed[i - base] = True
        i = row_next[i - base]
    symbol_head[s] = i
    if i == _NONE:
        symbol_tail[s] = _NONE


class HorizonTracker:
    """Rows in, in arrival order; the leading rows whose window has closed, out.

    ``symbols`` are small integer ids (one per symbol, from 0). The tracker keeps
    the rows from the oldest open window to the newest row.
    """

    def __init__(self, horizon_ms: int, capacity: int = 4096) -> None:
        self.horizon_ms = int(horizon_ms)
        self.watermark_ms = int(_EARLIEST)
        self._base = 0  # absolute index of the first kept row
        self._rows = 0  # absolute index after the last row
        self._origin = 0  # absolute index of storage index 0
        self._allocate_rows(capacity)
        self._symbol_sum = np.zeros(0, dtype=np.uint64)
        self._symbol_time = np.zeros(0, dtype=np.int64)
        self._symbol_head = np.zeros(0, dtype=np.int64)
        self._symbol_tail = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        """Rows kept: not yet taken."""
        return self._rows - self._base

    def add(
        self,
        symbols: npt.NDArray[np.int64],
        times_ms: npt.NDArray[np.int64],
        log_returns: npt.NDArray[np.float64],
    ) -> None:
        """Append rows, then close every window the newest time has passed."""
        if len(symbols) == 0:
            return
        self._grow_symbols(int(symbols.max()) + 1)
        self._make_room(len(symbols))
        watermark = _append(
            np.ascontiguousarray(symbols, dtype=np.int64),
            np.ascontiguousarray(times_ms, dtype=np.int64),
            np.ascontiguousarray(log_returns, dtype=np.float64),
            self.horizon_ms, self._rows, self._origin,
            self._time, self._sum, self._end, self._closed, self._next,
            self._symbol_sum, self._symbol_time, self._symbol_head, self._symbol_tail,
        )  # fmt: skip
        self._rows += len(symbols)
        self.watermark_ms = max(self.watermark_ms, int(watermark))
        self._close(self.watermark_ms, inclusive=False)

    def finish(self) -> None:
        """The history ends here: close every window that ends at or before the newest time."""
        self._close(self.watermark_ms, inclusive=True)

    def closed(self) -> int:
        """How many leading rows have a closed window (and can be taken)."""
        open_rows = np.flatnonzero(~self._kept(self._closed))
        return int(open_rows[0]) if len(open_rows) else len(self)

    def volatility(self) -> npt.NDArray[np.float64]:
        """Realized volatility of every kept row; NaN where its window is still open."""
        squares = (self._kept(self._end) - self._kept(self._sum)).astype(np.float64) * SQUARE_UNIT
        return np.where(self._kept(self._closed), np.sqrt(squares), np.nan)

    def take(self, n: int) -> npt.NDArray[np.float64]:
        """Realized volatility of the first ``n`` rows (all closed), which are then dropped."""
        closed = self.closed()
        if n > closed:
            msg = f"only {closed} leading rows are closed, not {n}"
            raise ValueError(msg)
        taken = self.volatility()[:n]
        self._base += n
        return taken

    def _kept(self, column: npt.NDArray[_T]) -> npt.NDArray[_T]:
        return column[self._base - self._origin : self._rows - self._origin]

    def _allocate_rows(self, capacity: int) -> None:
        self._time = np.zeros(capacity, dtype=np.int64)
        self._sum = np.zeros(capacity, dtype=np.uint64)
        self._end = np.zeros(capacity, dtype=np.uint64)
        self._closed = np.zeros(capacity, dtype=np.bool_)
        self._next = np.zeros(capacity, dtype=np.int64)

    def _make_room(self, n: int) -> None:
        """Move the kept rows to the front when the end is reached; double when still full."""
        if self._rows - self._origin + n <= len(self._time):
            return
        kept = [self._kept(getattr(self, name)).copy() for name in _ROW_COLUMNS]
        if len(self) + n > len(self._time) // 2:
            self._allocate_rows(max(len(self._time), 2 * (len(self) + n)))
        for name, column in zip(_ROW_COLUMNS, kept, strict=True):
            getattr(self, name)[: len(column)] = column
        self._origin = self._base

    def _close(self, limit_ms: int, inclusive: bool) -> None:
        _close_until(limit_ms, inclusive, self.horizon_ms, self._origin, self._time, self._end,
                     self._closed, self._next, self._symbol_sum, self._symbol_head,
                     self._symbol_tail)  # fmt: skip

    def _grow_symbols(self, count: int) -> None:
        have = len(self._symbol_sum)
        if count <= have:
            return
        more = max(count, 2 * have) - have
        self._symbol_sum = np.concatenate([self._symbol_sum, np.zeros(more, np.uint64)])
        self._symbol_time = np.concatenate([self._symbol_time, np.full(more, _EARLIEST)])
        self._symbol_head = np.concatenate([self._symbol_head, np.full(more, _NONE)])
        self._symbol_tail = np.concatenate([self._symbol_tail, np.full(more, _NONE)])


_ROW_COLUMNS: Final = ("_time", "_sum", "_end", "_closed", "_next")


def realized_volatility(
    symbols: npt.NDArray[np.int64],
    times_ms: npt.NDArray[np.int64],
    log_returns: npt.NDArray[np.float64],
    horizon_ms: int,
) -> npt.NDArray[np.float64]:
    """Each row's realized volatility over its horizon, for a whole history; NaN past its end."""
    tracker = HorizonTracker(horizon_ms, capacity=max(len(symbols), 1))
    tracker.add(symbols, times_ms, log_returns)
    tracker.finish()
    return tracker.volatility()
