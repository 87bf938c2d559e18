from __future__ import annotations

import json

import jsonschema
import msgspec
import numpy as np
import pytest

from volstream import schemas
from volstream.testing.payloads import BAD_PAYLOADS as BAD
from volstream.testing.payloads import NOW_MS, tick
from volstream.testing.payloads import tick_payload as payload
from volstream.ticks import (
    DECODE_CHUNK,
    REJECT_REASONS,
    Tick,
    TickBatch,
    decode_batch,
    encode_tick,
)


def test_symbol_is_checked_once_per_batch_and_rejected_where_it_appears() -> None:
    # a trailing newline passes Python's `$` (and so the jsonschema package), not the decoder
    payloads = [payload(), payload(symbol="BTC USD"), payload(), payload(symbol="BTC-USD\n")]
    batch = decode_batch(payloads, now_ms=NOW_MS)
    assert batch.index.tolist() == [0, 2]
    assert [(r.index, r.reason) for r in batch.rejects] == [
        (1, "invalid_field"),
        (3, "invalid_field"),
    ]
    assert "symbol" in batch.rejects[0].detail


def test_batch_larger_than_a_chunk_keeps_order_and_positions() -> None:
    n = 2 * DECODE_CHUNK + 500
    bad_at = {0, DECODE_CHUNK - 1, DECODE_CHUNK, n - 1}
    payloads = [BAD["malformed_json"] if i in bad_at else payload(trade_id=i) for i in range(n)]
    batch = decode_batch(payloads, now_ms=NOW_MS)
    assert [r.index for r in batch.rejects] == sorted(bad_at)
    assert batch.index.tolist() == [i for i in range(n) if i not in bad_at]
    assert batch.trade_id.tolist() == batch.index.tolist()


def test_every_reason_is_covered() -> None:
    assert set(BAD) == set(REJECT_REASONS)


def test_valid_batch_becomes_columns() -> None:
    batch = decode_batch([payload(), payload(side="sell", price=97000.0)], now_ms=NOW_MS)
    assert len(batch) == 2 and batch.rejects == []
    assert batch.symbol == ["BTC-USD", "BTC-USD"]
    assert batch.price.tolist() == [97000.5, 97000.0]
    assert batch.is_buy.tolist() == [True, False]
    assert batch.event_time_ms.dtype == np.int64


@pytest.mark.parametrize("reason", sorted(BAD))
def test_each_bad_payload_is_rejected_with_its_reason(reason: str) -> None:
    batch = decode_batch([payload(), BAD[reason], payload(trade_id=43)], now_ms=NOW_MS)
    assert batch.index.tolist() == [0, 2]
    assert [(r.index, r.reason) for r in batch.rejects] == [(1, reason)]
    assert batch.rejects[0].detail


def test_mixed_batch_keeps_order_and_every_good_tick() -> None:
    payloads = [payload(trade_id=i) for i in range(20)]
    bad_at = {3: "crossed_quote", 7: "malformed_json", 11: "oversize", 19: "non_finite"}
    for position, reason in bad_at.items():
        payloads[position] = BAD[reason]
    payloads.append(None)  # a tombstone
    batch = decode_batch(payloads, now_ms=NOW_MS)
    assert batch.index.tolist() == [i for i in range(20) if i not in (3, 7, 11, 19)]
    assert batch.trade_id.tolist() == batch.index.tolist()
    assert [r.index for r in batch.rejects] == [3, 7, 11, 19, 20]
    assert batch.rejects[-1].reason == "malformed_json"


def test_payload_spanning_lines_is_decoded_alone() -> None:
    pretty = json.dumps(tick(), indent=2).encode()
    two_in_one = payload() + b"\n" + payload()
    batch = decode_batch([pretty, two_in_one], now_ms=NOW_MS)
    assert batch.index.tolist() == [0]
    assert [r.reason for r in batch.rejects] == ["malformed_json"]


def test_encode_then_decode_round_trips() -> None:
    original = msgspec.convert(tick(), Tick)
    batch = decode_batch([encode_tick(original)], now_ms=NOW_MS)
    assert batch.to_ticks() == [original]
    assert TickBatch.from_ticks([original]).to_ticks() == [original]


def test_take_selects_rows() -> None:
    batch = decode_batch([payload(trade_id=i) for i in range(5)], now_ms=NOW_MS)
    assert batch.take(slice(1, 3)).trade_id.tolist() == [1, 2]
    assert batch.take(batch.trade_id % 2 == 0).trade_id.tolist() == [0, 2, 4]


@pytest.mark.parametrize("name", sorted(schemas.DOCUMENTS))
def test_schema_files_are_up_to_date(name: str) -> None:
    assert schemas.path(name).read_text() == schemas.render(name), "run `make schemas`"


def test_schema_agrees_with_decoder_on_field_rules() -> None:
    schema = json.loads(schemas.path("tick").read_text())
    jsonschema.validate(tick(), schema)
    bad_symbols = [tick(symbol=s) for s in ("", "BTC USD", "é", "X" * 65)]
    for bad in (tick(price=0), tick(size=-1), tick(side="hold"), *bad_symbols):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
        assert decode_batch([json.dumps(bad).encode()], now_ms=NOW_MS).rejects
