"""Replay of tick files: NDJSON, CSV and Parquet, and Coinbase ticker captures.

* NDJSON (``.ndjson``, ``.jsonl``, ``.json``, optionally ``.gz``): one document
  a line, each either a canonical tick, a raw Coinbase channel message, or a
  wrapper whose ``raw`` string field holds one. Coinbase messages other than
  ``ticker`` (``subscriptions``, ``heartbeat``...) are skipped and counted.
* CSV and Parquet: one canonical tick a row, columns named as the tick fields.

Lines or rows that are not ticks are skipped, counted by reason, and the first
of each reason is logged with its place in the file.
"""

from __future__ import annotations

import gzip
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final, cast

import msgspec
import pandas as pd
import pyarrow.parquet as pq

from volstream.errors import SourceError
from volstream.sources.coinbase import classify
from volstream.ticks import Tick, TickBatch

__all__ = ["FileReplay"]

log = logging.getLogger(__name__)

NDJSON_SUFFIXES: Final = {".ndjson", ".jsonl", ".json"}
TABLE_COLUMNS: Final = tuple(Tick.__struct_fields__)
_tick = msgspec.json.Decoder(Tick)


@dataclass
class FileReplay:
    """Ticks from files, read in order, in batches of ``batch_size`` (a :class:`TickSource`)."""

    paths: list[Path]
    batch_size: int = 5000
    skipped: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        if not self.paths:
            msg = "replay needs at least one file (--file)"
            raise SourceError(msg)
        for path in self.paths:
            if not path.is_file():
                msg = f"no such file: {path}"
                raise SourceError(msg)
            if _kind(path) is None:
                msg = (
                    f"{path}: unknown format; use .ndjson/.jsonl/.json[.gz], .csv[.gz] or .parquet"
                )
                raise SourceError(msg)

    def batches(self) -> Iterator[TickBatch]:
        """Every tick of every file, in file order."""
        for path in self.paths:
            reader = {"ndjson": self._ndjson, "csv": self._csv, "parquet": self._parquet}
            yield from reader[_kind(path) or ""](path)

    def _skip(self, reason: str, where: str, detail: str) -> None:
        if not self.skipped[reason]:
            log.warning(
                "skipping %s (%s): %s; further ones are only counted", where, reason, detail
            )
        self.skipped[reason] += 1

    def _ndjson(self, path: Path) -> Iterator[TickBatch]:
        ticks: list[Tick] = []
        with _open(path) as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                tick = self._line_to_tick(line, f"{path}:{number}")
                if tick is not None:
                    ticks.append(tick)
                if len(ticks) >= self.batch_size:
                    yield TickBatch.from_ticks(ticks)
                    ticks = []
        if ticks:
            yield TickBatch.from_ticks(ticks)

    def _line_to_tick(self, line: bytes, where: str) -> Tick | None:
        try:
            return _tick.decode(line)
        except msgspec.DecodeError:
            pass  # not a canonical tick: a Coinbase message, a wrapper, or junk
        try:
            document = msgspec.json.decode(line)
            if isinstance(document, dict) and isinstance(document.get("raw"), str):
                document = msgspec.json.decode(document["raw"])
        except msgspec.DecodeError as e:
            self._skip("malformed_json", where, str(e))
            return None
        if isinstance(document, dict) and "type" in document:
            return classify(document, self.skipped)
        self._skip("invalid_tick", where, "neither a tick nor a Coinbase message")
        return None

    def _csv(self, path: Path) -> Iterator[TickBatch]:
        try:
            with pd.read_csv(
                path, chunksize=self.batch_size, dtype={"symbol": str, "side": str}
            ) as chunks:
                for number, chunk in enumerate(chunks):
                    yield self._frame_to_batch(
                        chunk, f"{path} rows from {number * self.batch_size}"
                    )
        except (ValueError, pd.errors.ParserError) as e:
            msg = f"{path}: cannot read as CSV: {e}"
            raise SourceError(msg) from e

    def _parquet(self, path: Path) -> Iterator[TickBatch]:
        try:
            file = pq.ParquetFile(path)
        except Exception as e:  # pyarrow raises several types for a bad file
            msg = f"{path}: cannot read as Parquet: {e}"
            raise SourceError(msg) from e
        for number, record_batch in enumerate(file.iter_batches(batch_size=self.batch_size)):
            frame = record_batch.to_pandas()
            yield self._frame_to_batch(frame, f"{path} rows from {number * self.batch_size}")

    def _frame_to_batch(self, frame: pd.DataFrame, where: str) -> TickBatch:
        missing = [c for c in TABLE_COLUMNS if c not in frame.columns]
        if missing:
            msg = f"{where}: missing columns {', '.join(missing)}"
            raise SourceError(msg)
        frame = frame[list(TABLE_COLUMNS)]
        bad = frame.isna().any(axis=1) | ~frame["side"].isin(["buy", "sell"])
        if bad.any():
            self._skip("invalid_tick", where, f"{int(bad.sum())} rows with empty or bad values")
            self.skipped["invalid_tick"] += int(bad.sum()) - 1
            frame = frame[~bad]
        columns = {c: frame[c].to_numpy() for c in TABLE_COLUMNS if c not in ("symbol", "side")}
        columns["is_buy"] = (frame["side"] == "buy").to_numpy()
        return TickBatch.from_columns(frame["symbol"].astype(str).tolist(), columns)


def _kind(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in NDJSON_SUFFIXES:
        return "ndjson"
    if last == ".csv":
        return "csv"
    if last == ".parquet" and path.suffix.lower() != ".gz":
        return "parquet"
    return None


def _open(path: Path) -> IO[bytes]:
    if path.suffix.lower() == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")
