"""Consumer lag: the numbers, the health rule, and a group's lag read from the broker.

Shared by the consumer's lag metrics and ``volstream lag`` so the two agree.

Definitions, per partition:

* offset lag = high watermark - committed offset, never below 0 (a broker can
  answer a watermark read a moment before the commit it is compared with);
* time lag = now - event time of the next unprocessed record, 0 when caught up;
* health, judged over a window of samples, like Burrow:

  - ``ok``: no lag, or none of the below (an idle partition is ok);
  - ``warning``: commits move, but the lag grew at every sample of the window;
  - ``stalled``: lag > 0 and the committed offset did not move for the window;
  - ``stopped``: lag > 0 and the consumer has not committed for ``stopped_after``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from volstream.errors import BrokerError
from volstream.kafka.admin import wait_for_broker
from volstream.kafka.clients import make_admin, make_reader
from volstream.settings import KafkaSettings

__all__ = [
    "Health",
    "LagSample",
    "PartitionLag",
    "group_lag",
    "judge",
    "offset_lag",
    "peek_event_times",
]


class Health(IntEnum):
    """Lag health of a partition; the gauge exports the number."""

    OK = 0
    WARNING = 1
    STALLED = 2
    STOPPED = 3


@dataclass(frozen=True)
class LagSample:
    """One look at a partition: when, its committed offset, its offset lag."""

    at: float
    committed: int
    lag: int


def offset_lag(high_watermark: int, offset: int) -> int:
    """Records from ``offset`` (-1: nothing committed, so from 0) to the watermark, never < 0."""
    if high_watermark < 0:
        return 0
    return max(high_watermark - max(offset, 0), 0)


def judge(
    samples: Sequence[LagSample],
    now: float,
    last_commit: float | None,
    window: float,
    stopped_after: float,
) -> Health:
    """Health of a partition from its samples (oldest first) and the consumer's last commit."""
    if not samples or samples[-1].lag == 0:
        return Health.OK
    if last_commit is None or now - last_commit >= stopped_after:
        return Health.STOPPED
    spanned = [s for s in samples if s.at >= now - window]
    if len(spanned) < 2 or samples[-1].at - samples[0].at < window:
        return Health.OK  # not enough history to judge a trend yet
    if all(s.committed == spanned[0].committed for s in spanned):
        return Health.STALLED
    if all(b.lag > a.lag for a, b in zip(spanned, spanned[1:], strict=False)):
        return Health.WARNING
    return Health.OK


@dataclass(frozen=True)
class PartitionLag:
    """A group's lag on one partition, as ``volstream lag`` prints it.

    A watermark read below the committed offset (Tansu answers the base offset of
    the last batch + 1) is raised to it, and ``watermark_read_low`` says so.
    """

    topic: str
    partition: int
    committed: int
    high_watermark: int
    lag: int
    lag_seconds: float
    owner: str
    group_active: bool
    batch: int  # records one consumer batch takes: a lag within it is ok
    watermark_read_low: bool = False

    @property
    def state(self) -> str:
        """From one look: ``ok`` (no lag, or within one batch of a live group), ``lagging``
        (a live group, more than a batch behind), else ``stopped`` (nobody consumes)."""
        if self.lag == 0:
            return "ok"
        if not (self.group_active or self.owner):
            return "stopped"
        return "ok" if self.lag <= self.batch else "lagging"


def peek_event_times(
    consumer: Consumer, positions: dict[tuple[str, int], int], timeout: float = 2.0
) -> dict[tuple[str, int], int]:
    """Event time (ms) of the record at each (topic, partition) -> offset, where one exists."""
    if not positions:
        return {}
    consumer.assign([TopicPartition(t, p, o) for (t, p), o in positions.items()])
    found: dict[tuple[str, int], int] = {}
    deadline = time.monotonic() + timeout
    while len(found) < len(positions) and time.monotonic() < deadline:
        for message in consumer.consume(len(positions) * 2, timeout=0.2):
            if message.error() is not None:
                continue
            key = (str(message.topic()), int(message.partition() or 0))
            if key not in found and (message.offset() or 0) >= positions[key]:
                found[key] = message.timestamp()[1]
    consumer.unassign()
    return found


def group_lag(
    kafka: KafkaSettings, group: str, topics: Sequence[str] | None = None, batch: int = 10_000
) -> tuple[list[PartitionLag], bool]:
    """Committed offsets, watermarks, lag and owner of every partition ``group`` has committed;
    and whether the broker described the group's members (else no owner is known)."""
    wait_for_broker(kafka)
    admin = make_admin(kafka)
    committed = _committed_offsets(admin, group)
    if topics:
        committed = {k: v for k, v in committed.items() if k[0] in topics}
    owners, active, described = _members(admin, group)
    consumer = make_reader(kafka, "lag")
    try:
        highs = {
            key: int(
                consumer.get_watermark_offsets(TopicPartition(*key), timeout=kafka.timeout_seconds)[
                    1
                ]
            )
            for key in committed
        }
        behind = {
            key: offset for key, offset in committed.items() if offset_lag(highs[key], offset) > 0
        }
        times = peek_event_times(consumer, {k: max(v, 0) for k, v in behind.items()})
    finally:
        consumer.close()
    now_ms = time.time() * 1000
    rows = [
        PartitionLag(
            topic=key[0],
            partition=key[1],
            committed=offset,
            high_watermark=max(highs[key], offset),
            lag=offset_lag(highs[key], offset),
            lag_seconds=max(now_ms - times[key], 0.0) / 1000 if key in times else 0.0,
            owner=owners.get(key, ""),
            group_active=active,
            batch=batch,
            watermark_read_low=0 <= highs[key] < offset,
        )
        for key, offset in sorted(committed.items())
    ]
    return rows, described


def _committed_offsets(admin: AdminClient, group: str) -> dict[tuple[str, int], int]:
    request = [ConsumerGroupTopicPartitions(group)]
    try:
        result = admin.list_consumer_group_offsets(request)[group].result(timeout=10)
    except KafkaException as e:
        msg = f"cannot read the committed offsets of group {group}: {e}"
        raise BrokerError(msg) from e
    return {
        (tp.topic, tp.partition): (tp.offset if tp.offset != OFFSET_INVALID else -1)
        for tp in result.topic_partitions
    }


def _members(admin: AdminClient, group: str) -> tuple[dict[tuple[str, int], str], bool, bool]:
    """Which member owns each partition, whether any is alive, and whether the broker said."""
    try:
        description = admin.describe_consumer_groups([group])[group].result(timeout=10)
    except Exception:  # owners are nice to have; lag without them is still right
        return {}, False, False
    owners = {}
    for member in description.members:
        for tp in member.assignment.topic_partitions:
            owners[(tp.topic, tp.partition)] = f"{member.client_id}@{member.host}"
    alive = description.state.name in ("STABLE", "PREPARING_REBALANCE", "COMPLETING_REBALANCE")
    return owners, alive or bool(description.members), True
