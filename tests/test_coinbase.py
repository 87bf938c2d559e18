from __future__ import annotations

import json
import threading
import time

import pytest
from websockets.sync.server import ServerConnection

from volstream.errors import SourceError
from volstream.sources.coinbase import CoinbaseTickerStream, message_to_tick

from .coinbase_server import capture_messages, feed

TICKER = {
    "type": "ticker", "sequence": 37475248783, "product_id": "ETH-USD", "price": "1285.22",
    "open_24h": "1310.79", "volume_24h": "245532.79269678", "low_24h": "1280.52",
    "high_24h": "1313.8", "volume_30d": "9788783.60117027", "best_bid": "1285.04",
    "best_bid_size": "0.46688654", "best_ask": "1285.27", "best_ask_size": "1.56637040",
    "side": "buy", "time": "2022-10-19T23:28:22.061769Z", "trade_id": 370843401,
    "last_size": "11.4396987",
}  # fmt: skip


def test_ticker_message_maps_to_a_tick_with_exchange_time() -> None:
    tick = message_to_tick(TICKER)
    assert tick.symbol == "ETH-USD" and tick.price == 1285.22 and tick.size == 11.4396987
    assert (tick.bid, tick.ask, tick.bid_size, tick.ask_size) == (
        1285.04,
        1285.27,
        0.46688654,
        1.5663704,
    )
    assert tick.event_time_ms == 1666222102061  # 2022-10-19T23:28:22.061Z
    assert (tick.side, tick.trade_id, tick.sequence) == ("buy", 370843401, 37475248783)


@pytest.mark.parametrize(
    "change",
    [{"price": None}, {"time": "yesterday"}, {"time": "2022-10-19T23:28:22"}, {"side": "?"}],
)
def test_incomplete_ticker_is_refused(change: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="ticker"):
        message_to_tick({**TICKER, **change})


def collect(stream: CoinbaseTickerStream, want: int, timeout: float = 20) -> list[int]:
    """Trade ids until ``want`` arrived (or the timeout stops the stream)."""
    trade_ids: list[int] = []
    timer = threading.Timer(timeout, stream.stop.set)
    timer.start()
    try:
        for batch in stream.batches():
            trade_ids.extend(batch.trade_id.tolist())
            if len(trade_ids) >= want:
                stream.stop.set()
    finally:
        timer.cancel()
    return trade_ids


def test_live_stream_reconnects_and_resubscribes() -> None:
    messages = capture_messages()
    half = len(messages) // 2

    def script(number: int, connection: ServerConnection) -> None:
        if number == 1:
            for message in messages[:half]:
                connection.send(message)
            connection.close()  # the exchange drops us
        elif number == 2:
            for message in messages[half:]:
                connection.send(message)
            time.sleep(1)

    tickers = [json.loads(m) for m in messages if json.loads(m)["type"] == "ticker"]
    reconnects: list[int] = []
    with feed(script) as (url, subscriptions):
        stream = CoinbaseTickerStream(
            url=url,
            products=["BTC-USD", "ETH-USD"],
            stop=threading.Event(),
            heartbeat_timeout=1.0,
            on_reconnect=lambda: reconnects.append(1),
        )
        trade_ids = collect(stream, len(tickers))
    assert reconnects == [1]
    assert trade_ids == [t["trade_id"] for t in tickers]
    assert subscriptions[0] == {
        "type": "subscribe",
        "product_ids": ["BTC-USD", "ETH-USD"],
        "channels": ["ticker", "heartbeat"],
    }
    assert subscriptions[1] == subscriptions[0]
    assert stream.skipped["coinbase_subscriptions"] == 1
    assert stream.skipped["coinbase_heartbeat"] == 4


def test_heartbeat_silence_triggers_a_reconnect() -> None:
    def script(number: int, connection: ServerConnection) -> None:
        if number == 1:
            time.sleep(3)
        else:
            connection.send(json.dumps(TICKER))
            time.sleep(1)

    reconnects: list[int] = []
    with feed(script) as (url, subscriptions):
        stream = CoinbaseTickerStream(
            url=url, products=["ETH-USD"], stop=threading.Event(), heartbeat_timeout=0.5,
            on_reconnect=lambda: reconnects.append(1),
        )  # fmt: skip
        assert collect(stream, 1) == [TICKER["trade_id"]]
    assert len(subscriptions) == 2 and reconnects == [1]


def test_refused_subscription_is_a_clear_error() -> None:
    def script(number: int, connection: ServerConnection) -> None:
        connection.send(json.dumps({"type": "error", "message": "Failed to subscribe",
                                    "reason": "FOO-USD is not a valid product"}))  # fmt: skip
        time.sleep(1)

    with feed(script) as (url, _):
        stream = CoinbaseTickerStream(url=url, products=["FOO-USD"], stop=threading.Event())
        with pytest.raises(SourceError, match="coinbase refused the subscription"):
            list(stream.batches())
