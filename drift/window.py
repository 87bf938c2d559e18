"""The current window: recent predictions read back from the ``predictions`` topic."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass

import msgspec
import numpy as np
import numpy.typing as npt
from confluent_kafka import Consumer, KafkaException, TopicPartition

from volstream.errors import BrokerError
from volstream.features import FEATURE_NAMES, LONGEST_MS
from volstream.kafka.clients import make_reader
from volstream.kafka.reading import read_to_end
from volstream.predictions import PredictionHead, decode_heads
from volstream.settings import DriftSettings, KafkaSettings

__all__ = ["Window", "read_window"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    """Features, predicted probabilities and event times of the current window, in columns."""

    features: npt.NDArray[np.float64]  # rows x FEATURE_NAMES
    probability: npt.NDArray[np.float64]
    event_time_ms: npt.NDArray[np.int64]
    model_versions: npt.NDArray[np.object_]  # the version that made each prediction
    undecodable: int = 0

    @classmethod
    def of(cls, heads: list[PredictionHead], undecodable: int = 0) -> Window:
        """The columns of decoded predictions (full heads: every feature)."""
        rows = [msgspec.structs.astuple(head.features) for head in heads]
        return cls(
            features=np.array(rows, dtype=np.float64).reshape(-1, len(FEATURE_NAMES)),
            probability=np.array([h.probability for h in heads], dtype=np.float64),
            event_time_ms=np.array([h.event_time_ms for h in heads], dtype=np.int64),
            model_versions=np.array([h.model_version for h in heads], dtype=object),
            undecodable=undecodable,
        )

    def __len__(self) -> int:
        return len(self.probability)

    def newest(self, limit: int) -> Window:
        """The ``limit`` rows with the latest event times (all of them if fewer)."""
        if len(self) <= limit:
            return self
        return self._rows(np.sort(np.argsort(self.event_time_ms, kind="stable")[-limit:]))

    def after_warm_up(self) -> Window:
        """Without the first ``LONGEST_MS`` of event time: the stream's warm-up, when
        the rolling windows fill and each symbol's first tick has no previous one."""
        if len(self) == 0:
            return self
        return self._rows(
            np.flatnonzero(self.event_time_ms >= self.event_time_ms.min() + LONGEST_MS)
        )

    def _rows(self, keep: npt.NDArray[np.int64]) -> Window:
        return Window(self.features[keep], self.probability[keep], self.event_time_ms[keep],
                      self.model_versions[keep], self.undecodable)  # fmt: skip

    def version_counts(self) -> dict[str, int]:
        """Rows per model version that predicted them."""
        return dict(Counter(self.model_versions.tolist()))


def read_window(kafka: KafkaSettings, settings: DriftSettings) -> Window:
    """The last ``window_minutes`` (or ``window_rows``) of predictions, at most ``max_rows``.

    Start offsets come from offsets-for-times (or the row count); the topic is then
    read to its end (:func:`~volstream.kafka.reading.read_to_end`). Records older
    than the window are dropped, because a broker may answer offsets-for-times early.
    A window that reaches back to the start of the topic leaves out the stream's
    first minute, as the reference leaves out the history's.
    """
    since_ms = None
    if settings.window_rows is None:
        since_ms = int((time.time() - settings.window_minutes * 60) * 1000)
    limit = min(settings.window_rows or settings.max_rows, settings.max_rows)
    topic, timeout = kafka.predictions_topic, kafka.timeout_seconds
    heads: list[PredictionHead] = []
    undecodable = 0
    reader = make_reader(kafka, "drift")
    try:
        starts, from_the_start = _starts(reader, topic, since_ms, limit, timeout)
        for records in read_to_end(reader, topic, starts, timeout):
            if since_ms is not None:
                records = [m for m in records if m.timestamp()[1] >= since_ms]
            decoded = decode_heads([m.value() or b"" for m in records], full=True)
            found = [head for head in decoded if head is not None]
            heads.extend(found)
            undecodable += len(decoded) - len(found)
    finally:
        reader.close()
    window = Window.of(heads, undecodable)
    if from_the_start:
        window = window.after_warm_up()
        warm_up = len(heads) - len(window)
        log.info("drift: the window reaches the start of the stream; its first minute "
                 "(%d predictions, the features' warm-up) is left out", warm_up)  # fmt: skip
    return window.newest(limit)


def _starts(
    reader: Consumer, topic: str, since_ms: int | None, limit: int, timeout: float
) -> tuple[dict[int, int], bool]:
    """Per partition, the first offset of the window, keeping about ``limit`` rows in all;
    and whether the window starts where the topic does."""
    try:
        partitions = sorted(reader.list_topics(topic, timeout=timeout).topics[topic].partitions)
    except KafkaException as e:
        msg = f"cannot read the metadata of {topic}: {e.args[0].str()}"
        raise BrokerError(msg) from e
    if not partitions:
        msg = f"topic {topic} does not exist"
        raise BrokerError(msg)
    watermarks = {p: reader.get_watermark_offsets(TopicPartition(topic, p), timeout)
                  for p in partitions}  # fmt: skip
    ends = {p: high for p, (_, high) in watermarks.items()}
    starts = dict.fromkeys(partitions, 0)
    if since_ms is not None:
        found = reader.offsets_for_times(
            [TopicPartition(topic, p, since_ms) for p in partitions], timeout=timeout
        )
        starts = {tp.partition: tp.offset if tp.offset >= 0 else ends[tp.partition]
                  for tp in found}  # fmt: skip
    starts = _newest(starts, ends, limit)
    return starts, all(starts[p] <= low for p, (low, _) in watermarks.items())


def _newest(starts: dict[int, int], ends: dict[int, int], limit: int) -> dict[int, int]:
    """Move the starts up to keep about ``limit`` rows in all, each partition's newest."""
    sizes = {p: max(0, ends[p] - starts[p]) for p in starts}
    total = sum(sizes.values())
    if total <= limit:
        return starts
    log.info("drift: the window holds about %d predictions; judging the newest %d", total, limit)
    return {p: ends[p] - sizes[p] * limit // total for p in starts}
