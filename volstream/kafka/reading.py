"""Reading a topic's recent records to its end, without joining a group."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Final

from confluent_kafka import Consumer, Message, TopicPartition

from volstream.errors import BrokerError

__all__ = ["read_to_end"]

READ_BATCH: Final = 10_000


def read_to_end(
    reader: Consumer, topic: str, starts: dict[int, int], timeout: float
) -> Iterator[list[Message]]:
    """Batches of the records of ``topic`` from ``starts`` (partition -> offset) to its end.

    The ends are the high watermarks read now. Once every end is reached, one
    more poll reads what arrived with it, because a broker may report a
    watermark that reads low by a batch (Tansu answers the base offset of the
    last batch + 1).
    """
    ends = {p: reader.get_watermark_offsets(TopicPartition(topic, p), timeout)[1] for p in starts}
    unread = {p: end for p, end in ends.items() if end > starts[p]}
    if not unread:
        return
    reader.assign([TopicPartition(topic, p, starts[p]) for p in unread])
    deadline = time.monotonic() + max(timeout, 1.0) * 6
    past_the_ends = 0
    try:
        while time.monotonic() < deadline:
            messages = [m for m in reader.consume(READ_BATCH, timeout=0.5) if m.error() is None]
            for message in messages:
                if (message.offset() or 0) >= unread.get(message.partition() or 0, 0) - 1:
                    unread.pop(message.partition() or 0, None)
            if messages:
                yield messages
            if not unread:  # every end reached: one more poll for a batch a low watermark hid
                if not messages or past_the_ends:
                    return
                past_the_ends += 1
        msg = f"could not read {topic} to its end in time: {sorted(unread)} behind"
        raise BrokerError(msg)
    finally:
        reader.unassign()
