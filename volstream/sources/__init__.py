"""Where ticks come from: a synthetic market, files, and the Coinbase ticker channel.

Every source yields :class:`~volstream.ticks.TickBatch` objects in event-time
order (as far as the source keeps it) and counts what it passed over in
``skipped`` (reason -> count). The producer publishes them; training replays
them through the feature engine.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Protocol

from volstream.ticks import TickBatch

__all__ = ["TickSource"]


class TickSource(Protocol):
    """An iterable of tick batches that counts the records it skipped."""

    skipped: Counter[str]

    def batches(self) -> Iterator[TickBatch]:
        """Batches of ticks until the source ends (a live source may never end)."""
        ...
