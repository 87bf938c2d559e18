"""The Coinbase Exchange WebSocket ``ticker`` channel: message parsing and a live stream.

A ticker message (documented fields of the public channel)::

    {"type": "ticker", "sequence": 37475248783, "product_id": "ETH-USD",
     "price": "1285.22", "best_bid": "1285.04", "best_bid_size": "0.46688654",
     "best_ask": "1285.27", "best_ask_size": "1.56637040", "side": "buy",
     "time": "2022-10-19T23:28:22.061769Z", "trade_id": 370843401,
     "last_size": "11.4396987", ...}

becomes one canonical tick with the exchange ``time`` as its event time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import msgspec
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import connect

from volstream.errors import SourceError
from volstream.ticks import Tick, TickBatch

__all__ = ["CoinbaseTickerStream", "classify", "message_to_tick"]

log = logging.getLogger(__name__)

Number = str | float | int
MAX_BATCH = 1000
#: Channel message types counted by name when skipped; anything else is "coinbase_other".
KNOWN_TYPES = frozenset(
    {"subscriptions", "heartbeat", "status", "snapshot", "l2update", "match", "last_match",
     "received", "open", "done", "change", "activate", "ticker_batch"}
)  # fmt: skip


class _Ticker(msgspec.Struct, gc=False):
    product_id: str
    price: Number
    time: str
    side: Literal["buy", "sell"]
    trade_id: int
    sequence: int
    last_size: Number
    best_bid: Number
    best_ask: Number
    best_bid_size: Number = 0.0  # older captures lack the sizes
    best_ask_size: Number = 0.0


def message_to_tick(message: dict[str, Any]) -> Tick:
    """The canonical tick of one ``ticker`` message; ValueError when it is incomplete."""
    try:
        ticker = msgspec.convert(message, _Ticker)
        event_time = datetime.fromisoformat(ticker.time)
    except (msgspec.ValidationError, ValueError) as e:
        msg = f"incomplete ticker message: {e}"
        raise ValueError(msg) from e
    if event_time.tzinfo is None:
        msg = "ticker message time has no time zone"
        raise ValueError(msg)
    return Tick(
        symbol=ticker.product_id,
        event_time_ms=int(event_time.timestamp() * 1000),
        price=float(ticker.price),
        size=float(ticker.last_size),
        bid=float(ticker.best_bid),
        ask=float(ticker.best_ask),
        bid_size=float(ticker.best_bid_size),
        ask_size=float(ticker.best_ask_size),
        side=ticker.side,
        trade_id=ticker.trade_id,
        sequence=ticker.sequence,
    )


@dataclass
class CoinbaseTickerStream:
    """Live ticks from the Coinbase ticker channel, reconnecting and resubscribing as needed.

    The ``heartbeat`` channel is subscribed too, so a quiet but healthy connection
    still sends a message every second; silence longer than ``heartbeat_timeout``
    means the connection is dead and it is replaced.
    """

    url: str
    products: list[str]
    stop: threading.Event
    heartbeat_timeout: float = 10.0
    batch_window: float = 0.05
    max_backoff: float = 30.0
    on_reconnect: Callable[[], object] | None = None
    skipped: Counter[str] = field(default_factory=Counter)

    def batches(self) -> Iterator[TickBatch]:
        """Batches of ticks received within ``batch_window`` of each other, until ``stop``."""
        backoff = 0.5
        while not self.stop.is_set():
            try:
                for batch in self._session():
                    backoff = 0.5
                    yield batch
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake) as e:
                log.warning("coinbase connection lost (%s); reconnecting in %.1f s", e, backoff)
            except InvalidURI as e:
                msg = f"bad Coinbase URL {self.url!r}: {e}"
                raise SourceError(msg) from e
            if self.stop.wait(backoff):
                return
            backoff = min(backoff * 2, self.max_backoff)
            if self.on_reconnect:
                self.on_reconnect()

    def _session(self) -> Iterator[TickBatch]:
        with connect(self.url, open_timeout=10, close_timeout=2, max_size=2**20) as ws:
            ws.send(msgspec.json.encode(self._subscription()).decode())
            log.info(
                "subscribed to coinbase ticker for %s at %s", ",".join(self.products), self.url
            )
            last_message = time.monotonic()
            ticks: list[Tick] = []
            lost: Exception | None = None
            while not self.stop.is_set() and lost is None:
                try:
                    tick = self._handle(ws.recv(timeout=self.batch_window))
                    last_message = time.monotonic()
                    if tick is not None:
                        ticks.append(tick)
                    if len(ticks) < MAX_BATCH:
                        continue
                except TimeoutError:
                    if time.monotonic() - last_message > self.heartbeat_timeout:
                        lost = TimeoutError(f"no message for {self.heartbeat_timeout:g} s")
                except ConnectionClosed as e:
                    lost = e
                if ticks:  # what arrived before a loss is still delivered
                    yield TickBatch.from_ticks(ticks)
                    ticks = []
            if lost is not None:
                raise lost

    def _subscription(self) -> dict[str, Any]:
        return {
            "type": "subscribe",
            "product_ids": self.products,
            "channels": ["ticker", "heartbeat"],
        }

    def _handle(self, raw: str | bytes) -> Tick | None:
        try:
            message = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            self.skipped["malformed_json"] += 1
            return None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "error":
            msg = f"coinbase refused the subscription: {message.get('message')}"
            raise SourceError(msg)
        return classify(message, self.skipped)


def classify(message: object, skipped: Counter[str]) -> Tick | None:
    """The tick of a ticker message; any other message is counted in ``skipped``."""
    kind = message.get("type") if isinstance(message, dict) else None
    if kind != "ticker":
        skipped[f"coinbase_{kind}" if kind in KNOWN_TYPES else "coinbase_other"] += 1
        return None
    try:
        return message_to_tick(message)  # type: ignore[arg-type]
    except ValueError as e:
        skipped["invalid_ticker"] += 1
        log.debug("skipped a ticker message: %s", e)
        return None
