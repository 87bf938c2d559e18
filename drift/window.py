"""The current window: recent predictions read back from the ``predictions`` topic."""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
from confluent_kafka import Consumer, KafkaException, TopicPartition

from volstream.errors import BrokerError
from volstream.features import FEATURE_NAMES
from volstream.predictions import Prediction
from volstream.settings import DriftSettings, KafkaSettings

__all__ = ["Window", "read_window"]

log = logging.getLogger(__name__)
_decode = msgspec.json.Decoder(Prediction).decode


@dataclass(frozen=True)
class Window:
    """Features, predicted probabilities and event times of the current window, in columns."""

    features: npt.NDArray[np.float64]  # rows x FEATURE_NAMES
    probability: npt.NDArray[np.float64]
    event_time_ms: npt.NDArray[np.int64]
    model_versions: npt.NDArray[np.object_]  # the version that made each prediction
    undecodable: int = 0

    @classmethod
    def empty(cls) -> Window:
        return cls(np.zeros((0, len(FEATURE_NAMES))), np.zeros(0), np.zeros(0, dtype=np.int64),
                   np.zeros(0, dtype=object))  # fmt: skip

    def __len__(self) -> int:
        return len(self.probability)

    def newest(self, limit: int) -> Window:
        """The ``limit`` rows with the latest event times (all of them if fewer)."""
        if len(self) <= limit:
            return self
        keep = np.sort(np.argsort(self.event_time_ms, kind="stable")[-limit:])
        return Window(self.features[keep], self.probability[keep], self.event_time_ms[keep],
                      self.model_versions[keep], self.undecodable)  # fmt: skip

    def version_counts(self) -> dict[str, int]:
        """Rows per model version that predicted them."""
        return dict(Counter(self.model_versions.tolist()))


def read_window(kafka: KafkaSettings, settings: DriftSettings) -> Window:
    """The last ``window_minutes`` (or ``window_rows``) of predictions, at most ``max_rows``.

    Start offsets come from offsets-for-times (or the row count), ends from the
    high watermarks read now. Once every end is reached, one more poll reads
    what arrived with it, because a broker may report a watermark that reads
    low by a batch (Tansu answers the base offset of the last batch + 1); on a
    live topic that adds at most one poll of the newest predictions. Records
    older than the window are dropped, because a broker may answer
    offsets-for-times early.
    """
    required: dict[str, Any] = {  # partitions are assigned: the group never joins or commits
        "group.id": f"volstream-drift-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
    }
    consumer = Consumer(kafka.client_config(None, **required))
    since_ms = None
    if settings.window_rows is None:
        since_ms = int((time.time() - settings.window_minutes * 60) * 1000)
    limit = min(settings.window_rows or settings.max_rows, settings.max_rows)
    try:
        ranges = _ranges(consumer, kafka.predictions_topic, since_ms, limit, kafka.timeout_seconds)
        window = _read(consumer, kafka.predictions_topic, ranges, since_ms, kafka.timeout_seconds)
    finally:
        consumer.close()
    return window.newest(limit)


def _ranges(
    consumer: Consumer, topic: str, since_ms: int | None, limit: int, timeout: float
) -> dict[int, tuple[int, int]]:
    """Per partition, the offsets [start, end) of the window, ``end`` as the broker says now."""
    try:
        partitions = sorted(consumer.list_topics(topic, timeout=timeout).topics[topic].partitions)
    except KafkaException as e:
        msg = f"cannot read the metadata of {topic}: {e.args[0].str()}"
        raise BrokerError(msg) from e
    if not partitions:
        msg = f"topic {topic} does not exist"
        raise BrokerError(msg)
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout)[1]
            for p in partitions}  # fmt: skip
    starts = dict.fromkeys(partitions, 0)
    if since_ms is not None:
        found = consumer.offsets_for_times(
            [TopicPartition(topic, p, since_ms) for p in partitions], timeout=timeout
        )
        starts = {tp.partition: tp.offset if tp.offset >= 0 else ends[tp.partition]
                  for tp in found}  # fmt: skip
    return _newest(starts, ends, limit)


def _newest(starts: dict[int, int], ends: dict[int, int], limit: int) -> dict[int, tuple[int, int]]:
    """Shrink the ranges to about ``limit`` rows in all, keeping each partition's newest."""
    sizes = {p: max(0, ends[p] - starts[p]) for p in starts}
    total = sum(sizes.values())
    if total <= limit:
        return {p: (starts[p], ends[p]) for p in starts}
    log.info("drift: the window holds about %d predictions; judging the newest %d", total, limit)
    return {p: (ends[p] - sizes[p] * limit // total, ends[p]) for p in starts}


def _read(
    consumer: Consumer,
    topic: str,
    ranges: dict[int, tuple[int, int]],
    since_ms: int | None,
    timeout: float,
) -> Window:
    unread = {p: end for p, (start, end) in ranges.items() if end > start}
    if not unread:
        return Window.empty()
    consumer.assign([TopicPartition(topic, p, ranges[p][0]) for p in unread])
    rows: list[tuple[float, ...]] = []
    probability: list[float] = []
    times: list[int] = []
    versions: list[str] = []
    undecodable = 0
    deadline = time.monotonic() + max(timeout, 1.0) * 6
    past_the_ends = 0
    while time.monotonic() < deadline:
        messages = consumer.consume(10_000, timeout=0.5)
        for message in messages:
            partition, offset = message.partition(), message.offset()
            if message.error() is not None or partition is None or offset is None:
                continue
            if offset >= unread.get(partition, 0) - 1:
                unread.pop(partition, None)
            if since_ms is not None and message.timestamp()[1] < since_ms:
                continue
            try:
                prediction = _decode(message.value() or b"")
            except msgspec.DecodeError:
                undecodable += 1
                continue
            rows.append(msgspec.structs.astuple(prediction.features))
            probability.append(prediction.probability)
            times.append(prediction.event_time_ms)
            versions.append(prediction.model_version)
        if not unread:  # every end reached: one more poll for a batch a low watermark hid
            if not messages or past_the_ends:
                break
            past_the_ends += 1
    if unread:
        msg = f"could not read the window of {topic} in time: {sorted(unread)} behind"
        raise BrokerError(msg)
    return Window(
        features=np.array(rows, dtype=np.float64).reshape(-1, len(FEATURE_NAMES)),
        probability=np.array(probability, dtype=np.float64),
        event_time_ms=np.array(times, dtype=np.int64),
        model_versions=np.array(versions, dtype=object),
        undecodable=undecodable,
    )
