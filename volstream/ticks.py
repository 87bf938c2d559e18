"""The tick contract: one JSON document per trade, and a fast batch decoder.

A tick is published to the ``ticks`` topic with the symbol as key and its event
time as the Kafka message timestamp. ``docs/contracts.md`` describes every field
and ``volstream/schemas/tick.schema.json`` is its JSON Schema, generated from
:class:`Tick` (``make schemas``).

:func:`decode_batch` turns a micro-batch of payloads into columns and a list of
rejects, each with a reason from :data:`REJECT_REASONS`, so bad input never
stops a batch.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Final, Literal

import msgspec
import numpy as np
import numpy.typing as npt

from volstream.documents import encode_each

__all__ = [
    "REJECT_REASONS",
    "Reject",
    "Tick",
    "TickBatch",
    "decode_batch",
    "encode_tick",
    "encode_ticks",
]

#: What a symbol may hold. Checked once per distinct symbol (``_symbol_ok``), not by the
#: decoder: a regular expression per tick was a large share of the decoding time.
SYMBOL_PATTERN: Final = r"^[A-Za-z0-9._:/-]+$"
Price = Annotated[float, msgspec.Meta(gt=0, description="Positive, finite, in quote currency.")]
Quantity = Annotated[
    float, msgspec.Meta(ge=0, description="Non-negative, finite, in base currency.")
]


class Tick(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=False):
    """One trade with the top of the book just after it; bid must not exceed ask."""

    symbol: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=64,
            description="Instrument id, e.g. BTC-USD. Also the message key.",
            extra_json_schema={"pattern": SYMBOL_PATTERN},
        ),
    ]
    event_time_ms: Annotated[
        int,
        msgspec.Meta(ge=0, description="Exchange time of the trade, epoch milliseconds UTC."),
    ]
    price: Price
    size: Quantity
    bid: Price
    ask: Price
    bid_size: Quantity
    ask_size: Quantity
    side: Annotated[
        Literal["buy", "sell"], msgspec.Meta(description="Side of the order that was filled.")
    ]
    trade_id: Annotated[int, msgspec.Meta(ge=0, description="Exchange trade id.")]
    sequence: Annotated[int, msgspec.Meta(ge=0, description="Source sequence number.")]


#: Every reason a tick can be rejected for; the dead-letter header ``reason`` holds one.
REJECT_REASONS: Final = (
    "oversize",  # payload larger than the configured limit
    "malformed_json",  # not a JSON document
    "invalid_field",  # a field is missing, of the wrong type, or out of its range
    "non_finite",  # a number that does not fit a finite double (1e999)
    "non_positive_price",  # price, bid or ask <= 0
    "negative_size",  # size, bid_size or ask_size < 0
    "crossed_quote",  # bid > ask
    "future_timestamp",  # event time further ahead of now than the tolerance
)
RejectReason = Literal[
    "oversize",
    "malformed_json",
    "invalid_field",
    "non_finite",
    "non_positive_price",
    "negative_size",
    "crossed_quote",
    "future_timestamp",
]


@dataclass(frozen=True, slots=True)
class Reject:
    """A payload that is not a valid tick: its position in the batch and why."""

    index: int
    reason: RejectReason
    detail: str


FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class TickBatch:
    """Valid ticks as columns; ``index`` maps each row back to its payload in the batch."""

    index: IntArray
    symbol: list[str]
    event_time_ms: IntArray
    price: FloatArray
    size: FloatArray
    bid: FloatArray
    ask: FloatArray
    bid_size: FloatArray
    ask_size: FloatArray
    is_buy: npt.NDArray[np.bool_]
    trade_id: IntArray
    sequence: IntArray
    rejects: list[Reject] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.index)

    @classmethod
    def from_columns(cls, symbol: list[str], columns: Mapping[str, npt.ArrayLike]) -> TickBatch:
        """A batch from a symbol list and one array per other column (``index`` optional)."""
        n = len(symbol)
        arrays = {
            "index": np.asarray(columns.get("index", np.arange(n)), dtype=np.int64),
            "is_buy": np.asarray(columns["is_buy"], dtype=np.bool_),
            **{name: np.asarray(columns[name], dtype=np.float64) for name in _FLOAT_COLUMNS},
            **{name: np.asarray(columns[name], dtype=np.int64) for name in _INT_COLUMNS},
        }
        batch = cls.__new__(cls)
        batch.symbol, batch.rejects = symbol, []
        for name, array in arrays.items():
            if len(array) != n:
                msg = f"column {name} has {len(array)} rows, symbol has {n}"
                raise ValueError(msg)
            setattr(batch, name, array)
        return batch

    @classmethod
    def from_ticks(cls, ticks: Sequence[Tick]) -> TickBatch:
        """Columns of ``ticks``, in order."""
        return _columns(list(ticks), list(range(len(ticks))))

    @classmethod
    def concat(cls, batches: Sequence[TickBatch]) -> TickBatch:
        """One batch of all rows of ``batches``, in order (``index`` renumbered)."""
        columns = {
            name: np.concatenate([getattr(b, name) for b in batches])
            for name in _ARRAY_COLUMNS
            if name != "index"
        }
        return cls.from_columns([s for b in batches for s in b.symbol], columns)

    def to_ticks(self) -> list[Tick]:
        """One :class:`Tick` per row."""
        sides = np.where(self.is_buy, "buy", "sell").tolist()
        rows = zip(
            self.symbol,
            self.event_time_ms.tolist(),
            *(getattr(self, name).tolist() for name in _FLOAT_COLUMNS),
            sides,
            self.trade_id.tolist(),
            self.sequence.tolist(),
            strict=True,
        )
        return [Tick(*row) for row in rows]

    def drop(self, positions: list[int]) -> TickBatch:
        """A new batch without the rows at ``positions`` (ascending): fast for a few rows."""
        symbols = self.symbol.copy()
        for i in reversed(positions):
            del symbols[i]
        return TickBatch.from_columns(
            symbols, {name: np.delete(getattr(self, name), positions) for name in _ARRAY_COLUMNS}
        )

    def take(self, rows: slice | npt.NDArray[np.int64] | npt.NDArray[np.bool_]) -> TickBatch:
        """A new batch of the selected rows (a slice, positions or a mask)."""
        picked = np.arange(len(self))[rows]
        symbols = [self.symbol[i] for i in picked.tolist()]
        return TickBatch.from_columns(
            symbols, {name: getattr(self, name)[picked] for name in _ARRAY_COLUMNS}
        )


_decoder = msgspec.json.Decoder(Tick)
# Decoding 10,000 ticks at once, then reading their fields, let them fall out of the CPU
# cache in between; by chunks they are read while still there (docs/benchmarks.md).
DECODE_CHUNK: Final = 1000
_encoder = msgspec.json.Encoder()
_FLOAT_COLUMNS: Final = ("price", "size", "bid", "ask", "bid_size", "ask_size")
_INT_COLUMNS: Final = ("event_time_ms", "trade_id", "sequence")
_ARRAY_COLUMNS: Final = ("index", "is_buy", *_FLOAT_COLUMNS, *_INT_COLUMNS)


def encode_tick(tick: Tick) -> bytes:
    """The JSON bytes of one tick, as published."""
    return _encoder.encode(tick)


def encode_ticks(ticks: Sequence[Tick]) -> list[bytes]:
    """The JSON bytes of each tick, encoded in one call."""
    return encode_each(ticks)


def decode_batch(
    payloads: Sequence[bytes | None],
    *,
    now_ms: int,
    max_bytes: int = 4096,
    future_tolerance_ms: int = 60_000,
) -> TickBatch:
    """Decode and validate a micro-batch; invalid payloads become :class:`Reject` entries."""
    rejects: list[Reject] = []
    if all(payloads) and max(map(len, payloads), default=0) <= max_bytes:  # type: ignore[arg-type]
        candidates = list(range(len(payloads)))  # the usual case, without a loop in Python
    else:
        candidates = []
        for i, payload in enumerate(payloads):
            if payload is None:
                rejects.append(Reject(i, "malformed_json", "empty message"))
            elif len(payload) > max_bytes:
                rejects.append(Reject(i, "oversize", f"{len(payload)} bytes > {max_bytes}"))
            else:
                candidates.append(i)
    batch = _decode_in_chunks(payloads, candidates, rejects)
    batch.rejects = rejects
    _check_values(batch, now_ms + future_tolerance_ms)
    batch.rejects.sort(key=operator.attrgetter("index"))
    return batch


def _decode_in_chunks(
    payloads: Sequence[bytes | None], candidates: list[int], rejects: list[Reject]
) -> TickBatch:
    """Decode and take the columns a chunk at a time, while its ticks are in the CPU cache."""
    symbols: list[str] = []
    columns: dict[str, list[npt.NDArray[np.generic]]] = {name: [] for name in _ARRAY_COLUMNS}
    for start in range(0, len(candidates), DECODE_CHUNK):
        positions = candidates[start : start + DECODE_CHUNK]
        ticks, index = _decode_all([payloads[i] for i in positions], positions, rejects)
        part = _columns(ticks, index)
        symbols += part.symbol
        for name, arrays in columns.items():
            arrays.append(getattr(part, name))
    if not symbols:
        return _columns([], [])
    return TickBatch.from_columns(symbols, {n: np.concatenate(a) for n, a in columns.items()})


def _decode_all(
    payloads: list[bytes | None], positions: list[int], rejects: list[Reject]
) -> tuple[list[Tick], list[int]]:
    """Decode all at once when every payload is one clean line, else one by one."""
    if payloads and all(payloads):
        joined = b"\n".join(payloads)  # type: ignore[arg-type]
        if joined.count(b"\n") == len(payloads) - 1:  # no payload spans lines
            try:
                ticks = _decoder.decode_lines(joined)
                if len(ticks) == len(payloads):  # a blank payload would shift the rows
                    return ticks, positions
            except msgspec.DecodeError:
                pass  # at least one is bad: find it below
    ticks, index = [], []
    for position, payload in zip(positions, payloads, strict=True):
        try:
            ticks.append(_decoder.decode(payload or b""))
            index.append(position)
        except msgspec.ValidationError as e:
            rejects.append(Reject(position, _validation_reason(str(e)), str(e)))
        except msgspec.DecodeError as e:
            rejects.append(Reject(position, "malformed_json", str(e)))
    return ticks, index


def _validation_reason(message: str) -> RejectReason:
    """Name the rule a msgspec validation message reports (its wording is tested)."""
    if "out of range" in message:
        return "non_finite"
    if message.startswith("Expected `float` > 0"):
        return "non_positive_price"
    if message.startswith("Expected `float` >= 0"):
        return "negative_size"
    return "invalid_field"


def _columns(ticks: list[Tick], index: list[int]) -> TickBatch:
    n = len(ticks)

    def column(name: str, dtype: type) -> npt.NDArray[np.generic]:
        return np.fromiter(map(operator.attrgetter(name), ticks), dtype=dtype, count=n)

    columns: dict[str, npt.ArrayLike] = {
        "index": index,
        "is_buy": np.fromiter((t.side == "buy" for t in ticks), dtype=np.bool_, count=n),
        **{name: column(name, np.float64) for name in _FLOAT_COLUMNS},
        **{name: column(name, np.int64) for name in _INT_COLUMNS},
    }
    return TickBatch.from_columns([t.symbol for t in ticks], columns)


def _check_values(batch: TickBatch, latest_ms: int) -> None:
    """Reject rows that break a rule across fields or against the clock; keep the rest."""
    checks: list[tuple[RejectReason, npt.NDArray[np.bool_], str]] = [
        ("invalid_field", _bad_symbols(batch.symbol), f"symbol must match {SYMBOL_PATTERN}"),
        ("crossed_quote", batch.bid > batch.ask, "bid above ask"),
        ("future_timestamp", batch.event_time_ms > latest_ms, "event time ahead of now"),
    ]
    bad = np.zeros(len(batch), dtype=np.bool_)
    for reason, mask, detail in checks:
        new = mask & ~bad
        batch.rejects.extend(Reject(int(i), reason, detail) for i in batch.index[new])
        bad |= mask
    if bad.any():
        _keep(batch, ~bad)


def _bad_symbols(symbols: list[str]) -> npt.NDArray[np.bool_]:
    bad = {s for s in set(symbols) if not _symbol_ok(s)}
    if not bad:
        return np.zeros(len(symbols), dtype=np.bool_)
    return np.fromiter((s in bad for s in symbols), dtype=np.bool_, count=len(symbols))


@functools.lru_cache(maxsize=4096)
def _symbol_ok(symbol: str) -> bool:
    return _SYMBOL_RE.fullmatch(symbol) is not None


_SYMBOL_RE: Final = re.compile(SYMBOL_PATTERN)


def _keep(batch: TickBatch, keep: npt.NDArray[np.bool_]) -> None:
    kept = batch.take(keep)
    for name in ("symbol", *_ARRAY_COLUMNS):
        setattr(batch, name, getattr(kept, name))
