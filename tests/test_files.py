from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from volstream.errors import SourceError
from volstream.sources.files import FileReplay
from volstream.testing.payloads import tick
from volstream.ticks import TickBatch

CAPTURE = Path(__file__).parent / "data" / "coinbase_ticker_capture.ndjson"


def replay(*paths: Path, batch_size: int = 5000) -> tuple[list[TickBatch], FileReplay]:
    source = FileReplay(list(paths), batch_size=batch_size)
    return list(source.batches()), source


def test_coinbase_capture_gives_one_tick_per_ticker_message() -> None:
    lines = [json.loads(line) for line in CAPTURE.read_text().splitlines()]
    messages = [json.loads(d["raw"]) if "raw" in d else d for d in lines]
    tickers = [m for m in messages if m["type"] == "ticker"]
    assert any("raw" in d for d in lines) and len(tickers) > 20

    batches, source = replay(CAPTURE)
    ticks = [t for b in batches for t in b.to_ticks()]
    assert len(ticks) == len(tickers)
    first, message = ticks[0], tickers[0]
    assert first.symbol == message["product_id"]
    assert first.price == float(message["price"]) and first.size == float(message["last_size"])
    assert first.bid == float(message["best_bid"]) and first.ask_size == float(
        message["best_ask_size"]
    )
    assert first.trade_id == message["trade_id"] and first.sequence == message["sequence"]
    exchange_ms = pd.Timestamp(message["time"]).value // 1_000_000
    assert first.event_time_ms == exchange_ms
    assert source.skipped == {"coinbase_subscriptions": 1, "coinbase_heartbeat": 4}


def test_canonical_ndjson_csv_parquet_and_gzip_agree(tmp_path: Path) -> None:
    rows = [tick(trade_id=i, side="buy" if i % 2 else "sell") for i in range(7)]
    ndjson = tmp_path / "ticks.ndjson"
    ndjson.write_text("".join(json.dumps(r) + "\n" for r in rows))
    gz = tmp_path / "ticks.jsonl.gz"
    gz.write_bytes(gzip.compress(ndjson.read_bytes()))
    pd.DataFrame(rows).to_csv(tmp_path / "ticks.csv", index=False)
    pd.DataFrame(rows).to_parquet(tmp_path / "ticks.parquet")
    expected = [t for b in replay(ndjson)[0] for t in b.to_ticks()]
    assert [t.trade_id for t in expected] == list(range(7))
    for name in ("ticks.jsonl.gz", "ticks.csv", "ticks.parquet"):
        batches, _ = replay(tmp_path / name, batch_size=3)
        assert [len(b) for b in batches] == [3, 3, 1]
        assert [t for b in batches for t in b.to_ticks()] == expected, name


def test_bad_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "mixed.ndjson"
    path.write_text(
        json.dumps(tick()) + "\n" + "not json\n" + '{"hello": 1}\n' + "\n"
        + json.dumps({"type": "ticker", "product_id": "BTC-USD"}) + "\n"
        + json.dumps(tick(trade_id=9)) + "\n"
    )  # fmt: skip
    batches, source = replay(path)
    assert [t.trade_id for b in batches for t in b.to_ticks()] == [42, 9]
    assert source.skipped == {"malformed_json": 1, "invalid_tick": 1, "invalid_ticker": 1}


def test_table_rows_with_empty_values_are_skipped(tmp_path: Path) -> None:
    frame = pd.DataFrame([tick(), tick(trade_id=2), tick(trade_id=3)])
    frame.loc[1, "price"] = None
    frame.loc[2, "side"] = "hold"
    frame.to_csv(tmp_path / "t.csv", index=False)
    batches, source = replay(tmp_path / "t.csv")
    assert [t.trade_id for b in batches for t in b.to_ticks()] == [42]
    assert source.skipped == {"invalid_tick": 2}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("ticks.txt", "x", "unknown format"),
        ("ticks.csv", "symbol,price\nA,1\n", "missing columns event_time_ms"),
        ("ticks.parquet", "not parquet", "cannot read as Parquet"),
    ],
)
def test_unreadable_files_raise_one_clear_error(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(SourceError, match=message):
        replay(tmp_path / name)


def test_missing_file_is_named() -> None:
    with pytest.raises(SourceError, match="no such file: nowhere.ndjson"):
        FileReplay([Path("nowhere.ndjson")])
