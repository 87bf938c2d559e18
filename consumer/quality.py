"""Data quality of the stream, per batch: ticks flagged by reason, and silent symbols.

Flagged ticks are still predicted. Invalid ones (a crossed book, a bad field) never get
here: they go to the dead-letter topic (``volstream_consumer_rejected_total``). Each
tick counts under one ordering reason at most: a redelivered trade id is a duplicate
only; a tick behind its partition's latest event time by more than the bound is late,
not also out of order.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from volstream.feature_engine import DUPLICATE, OUT_OF_ORDER, PRICE_JUMP
from volstream.ticks import TickBatch

__all__ = ["REASONS", "StreamQuality"]

#: Reasons a tick is flagged, as the ``reason`` label of volstream_consumer_flagged_ticks_total.
REASONS: Final = ("duplicate_trade_id", "late", "out_of_order", "locked_book", "price_jump")

IntArray = npt.NDArray[np.int64]


class StreamQuality:
    """The checks that need the stream's order: lateness against each partition's latest
    event time (the others come from the feature engine's flags)."""

    def __init__(self, late_after_ms: int) -> None:
        self.late_after_ms = late_after_ms
        self._latest: dict[int, int] = {}  # partition -> latest event time seen

    def count(
        self, ticks: TickBatch, partitions: IntArray, flags: npt.NDArray[np.uint8]
    ) -> dict[str, int]:
        """Flagged ticks of a batch by reason (every reason, zeros included)."""
        duplicate = (flags & DUPLICATE) != 0
        late = self._late(ticks.event_time_ms, partitions) & ~duplicate
        out_of_order = ((flags & OUT_OF_ORDER) != 0) & ~late
        return {
            "duplicate_trade_id": int(duplicate.sum()),
            "late": int(late.sum()),
            "out_of_order": int(out_of_order.sum()),
            "locked_book": int(np.count_nonzero(ticks.bid == ticks.ask)),
            "price_jump": int(np.count_nonzero(flags & PRICE_JUMP)),
        }

    def forget(self, partitions: list[int]) -> None:
        """Partitions this consumer gave up: their next owner judges them."""
        for p in partitions:
            self._latest.pop(p, None)

    def _late(self, event_ms: IntArray, partitions: IntArray) -> npt.NDArray[np.bool_]:
        late = np.zeros(len(event_ms), dtype=np.bool_)
        for p in np.unique(partitions).tolist():
            rows = np.flatnonzero(partitions == p)
            times = event_ms[rows]
            first = self._latest.get(p, int(times[0]))
            latest = np.maximum.accumulate(np.concatenate(([first], times)))
            late[rows] = times < latest[:-1] - self.late_after_ms
            self._latest[p] = int(latest[-1])
        return late
