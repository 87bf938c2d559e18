"""Tick documents for tests: one valid tick to vary, and one bad payload per reject reason."""

from __future__ import annotations

import json

__all__ = ["BAD_PAYLOADS", "NOW_MS", "tick", "tick_payload"]

#: The clock the documents are written against (2025-11-20): pass it as ``now_ms`` to decode.
NOW_MS = 1_763_650_000_000


def tick(**changes: object) -> dict[str, object]:
    """A valid tick document (a second before NOW_MS), with ``changes`` applied."""
    document: dict[str, object] = {
        "symbol": "BTC-USD",
        "event_time_ms": NOW_MS - 1000,
        "price": 97000.5,
        "size": 0.25,
        "bid": 97000.0,
        "ask": 97000.5,
        "bid_size": 1.5,
        "ask_size": 0.75,
        "side": "buy",
        "trade_id": 42,
        "sequence": 1001,
    }
    document.update(changes)
    return document


def tick_payload(**changes: object) -> bytes:
    """The JSON bytes of :func:`tick`."""
    return json.dumps(tick(**changes)).encode()


#: One payload per reason the consumer rejects (``future_timestamp`` relative to NOW_MS).
BAD_PAYLOADS = {
    "malformed_json": b'{"symbol": "BTC-USD",',
    "invalid_field": json.dumps({k: v for k, v in tick().items() if k != "price"}).encode(),
    "non_finite": tick_payload().replace(b"97000.5,", b"1e999,", 1),
    "non_positive_price": tick_payload(bid=0.0),
    "negative_size": tick_payload(size=-1.0),
    "crossed_quote": tick_payload(bid=97001.0, ask=97000.0),
    "future_timestamp": tick_payload(event_time_ms=NOW_MS + 3_600_000),
    "oversize": tick_payload(symbol="X" * 10) + b" " * 5000,
}
