"""A tick stream with known data-quality faults, for the checks of ``consumer.quality``.

Three symbols tick every 100 ms of event time, round-robin, on a calm random walk (log
returns of 1e-4, so no natural jump at 10 standard deviations). Into it go, at known
places, ticks of the first symbol: redelivered ones, late ones, out-of-order ones,
locked and crossed books, and price jumps (lasting level shifts, so the tick after one
is ordinary); and the third symbol falls silent while the others go on. ``injected``
says how many of each.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import numpy as np

__all__ = ["FaultedStream", "faulted_stream"]

STEP_MS = 100
SYMBOLS = ("QA-A", "QA-B", "QA-C")
SILENT_FROM_MS = 40_000  # the third symbol's last tick is before this
SPREAD = 0.0001  # of the mid
#: (event time offset in ms, fault, how many): each follows the first symbol's tick there
#: (it ticks every 300 ms: offsets are multiples of 300).
FAULTS = (
    (9_900, "duplicate_trade_id", 5), (19_800, "late", 3), (30_000, "out_of_order", 4),
    (50_100, "locked_book", 2), (60_000, "crossed_quote", 2), (69_900, "price_jump", 1),
    (99_900, "price_jump", 1),
)  # fmt: skip
JUMP = 1.005  # a 0.5 % move: 50 standard deviations of the walk


@dataclass
class FaultedStream:
    """Payloads (symbol, JSON bytes) in the order to send them, and what was injected."""

    payloads: list[tuple[str, bytes]]
    injected: dict[str, int]  # fault -> ticks; crossed_quote ones are invalid
    silent: str  # the symbol that stops ticking

    @property
    def valid(self) -> int:
        """Ticks that pass validation (all but the crossed books)."""
        return len(self.payloads) - self.injected["crossed_quote"]


def faulted_stream(start_ms: int, seconds: int = 120, seed: int = 3) -> FaultedStream:
    """The stream from event time ``start_ms`` on, ``seconds`` long."""
    rng = np.random.default_rng(seed)
    mids = dict.fromkeys(SYMBOLS, 100.0)
    trades = dict.fromkeys(SYMBOLS, 0)
    faults = {offset: (fault, count) for offset, fault, count in FAULTS}
    payloads: list[tuple[str, bytes]] = []

    def send(symbol: str, t: int, mid: float, **changes: object) -> dict[str, object]:
        trades[symbol] += 1
        document: dict[str, object] = {
            "symbol": symbol, "event_time_ms": t, "price": mid, "size": 0.5,
            "bid": mid * (1 - SPREAD / 2), "ask": mid * (1 + SPREAD / 2), "bid_size": 1.0,
            "ask_size": 1.0, "side": "buy", "trade_id": trades[symbol],
            "sequence": trades[symbol], **changes,
        }  # fmt: skip
        payloads.append((symbol, json.dumps(document).encode()))
        return document

    for step in range(seconds * 1000 // STEP_MS):
        offset, symbol = step * STEP_MS, SYMBOLS[step % len(SYMBOLS)]
        if symbol == SYMBOLS[-1] and offset >= SILENT_FROM_MS:
            continue
        t = start_ms + offset
        mids[symbol] *= float(np.exp(rng.normal(0.0, 1e-4)))
        mid = mids[symbol]
        send(symbol, t, mid)
        original = payloads[-1]
        fault, count = faults.get(offset, ("", 0)) if symbol == SYMBOLS[0] else ("", 0)
        for _ in range(count):
            if fault == "duplicate_trade_id":  # the same tick again
                payloads.append(original)
            elif fault == "late":  # 10 s behind the partition, at the symbol's price
                send(symbol, t - 10_000, mid)
            elif fault == "out_of_order":  # 200 ms before the symbol's last tick
                send(symbol, t - 200, mid)
            elif fault == "locked_book":
                send(symbol, t, mid, bid=mid, ask=mid)
            elif fault == "crossed_quote":
                send(symbol, t, mid, bid=mid * 1.001, ask=mid)
            elif fault == "price_jump":
                mids[symbol] *= JUMP
                send(symbol, t, mids[symbol])
    injected = Counter[str]()
    for _, fault, count in FAULTS:
        injected[fault] += count
    return FaultedStream(payloads, dict(injected), SYMBOLS[-1])
