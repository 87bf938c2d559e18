"""Queueing records on a producer client that survives the broker losing its state.

:func:`produce_all` is the one way records are queued: it waits for room when the
client's queue is full. :class:`SymbolKeys` encodes each symbol's message key once.
A :class:`Sender` owns the librdkafka client and replaces it when the broker has
lost its state (a broker restarted empty), sending again what the old one held.
The producer's ``TickPublisher`` and the :class:`~volstream.kafka.outbox.Outbox` send
through one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Final

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from volstream.kafka.clients import LIBRDKAFKA, FailureCallback, KafkaClients
from volstream.kafka.watch import BROKER_WATCH
from volstream.settings import KafkaSettings

__all__ = [
    "ANY_PARTITION",
    "ClientFailed",
    "Headers",
    "Sender",
    "SymbolKeys",
    "produce_all",
    "produce_one",
]

log = logging.getLogger(__name__)
FLUSH_TIMEOUT_SECONDS: Final = 30.0
FLUSH_SLICE_SECONDS: Final = 1.0  # a flush looks at the client's health this often
PURGE_WAIT_SECONDS: Final = 5.0  # a dead client hands back what it held within this
EPOCH_BUMPS_PER_REPORT: Final = 10  # more in one statistics interval (1 s): see Sender._on_stats
ANY_PARTITION: Final = -1  # let the partitioner choose: by key
ROOM_WAIT_SECONDS: Final = 0.05  # a full queue: serve delivery reports this long, then retry
Headers = list[tuple[str, str | bytes | None]]
# Reports of records that were not written, because the client failed for good (it purges
# its queues; or we purge a dead client) or because the broker does not know this producer
# (it lost its state: UNKNOWN_PRODUCER_ID and PRODUCER_FENCED came from a broker restarted
# empty; the other two are of the same kind). The client is replaced and they are sent
# again, not failed.
_HANDED_BACK: Final = frozenset({
    KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT, KafkaError._FATAL,  # noqa: SLF001
    KafkaError.UNKNOWN_PRODUCER_ID, KafkaError.PRODUCER_FENCED,
    KafkaError.INVALID_PRODUCER_EPOCH, KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
})  # fmt: skip


class ClientFailed(Exception):
    """The producer client failed for good (a fatal error) at record ``index`` of a batch:
    the records before it were queued, that one and the rest were not."""

    def __init__(self, index: int) -> None:
        super().__init__(f"the producer client failed at record {index}")
        self.index = index


class SymbolKeys:
    """Message keys (the symbol's UTF-8 bytes), encoded once per symbol."""

    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}

    def of(self, symbols: Iterable[str]) -> list[bytes]:
        keys = self._keys
        return [keys.get(s) or self._add(s) for s in symbols]

    def _add(self, symbol: str) -> bytes:
        self._keys[symbol] = symbol.encode()
        return self._keys[symbol]


def produce_all(
    producer: Producer,
    topic: str,
    values: list[bytes],
    keys: list[bytes],
    timestamps: list[int],
    partition: int = ANY_PARTITION,
    serve: Callable[[float], object] | None = None,
) -> None:
    """Queue records in order (to ``partition``, or by key), waiting for room when full.

    ``serve(seconds)`` serves delivery reports while the queue is full (the
    producer's ``poll`` unless given). Raises :class:`ClientFailed` when the client
    has failed for good.
    """
    produce = producer.produce
    queued = 0
    try:
        for value, key, timestamp in zip(values, keys, timestamps, strict=True):
            try:
                # Positional (partition, callback, on_delivery, timestamp, as cimpl.pyi orders
                # them): a keyword argument is parsed on every call (docs/benchmarks.md).
                # None callbacks keep the producer's own on_delivery.
                produce(topic, value, key, partition, None, None, timestamp)
            except BufferError:
                produce_one(producer, topic, value, key, timestamp, None, partition, serve)
            queued += 1
    except (KafkaException, SystemError) as e:
        if not _fatal(e):
            raise
        raise ClientFailed(queued) from e


def _fatal(error: BaseException) -> bool:
    """A fatal client error: confluent-kafka raises it from the serve call (poll or flush) that
    meets it, or leaves it pending so that the next callback's call fails with SystemError."""
    if isinstance(error, SystemError):
        return error.__cause__ is not None and _fatal(error.__cause__)
    if not isinstance(error, KafkaException) or not error.args:
        return False
    return bool(error.args[0].fatal() or error.args[0].code() == KafkaError._FATAL)  # noqa: SLF001


def produce_one(
    producer: Producer,
    topic: str,
    value: bytes,
    key: bytes | None,
    timestamp: int,
    headers: Headers | None = None,
    partition: int = ANY_PARTITION,
    serve: Callable[[float], object] | None = None,
) -> None:
    """Queue one record, serving delivery reports while the client's queue is full."""
    serve = serve or producer.poll
    try:
        while True:
            try:
                producer.produce(topic, value, key, partition, timestamp=timestamp,
                                 headers=headers)  # fmt: skip
                return
            except BufferError:
                serve(ROOM_WAIT_SECONDS)
    except (KafkaException, SystemError) as e:
        if not _fatal(e):
            raise
        raise ClientFailed(0) from e


class Sender:
    """One producer client, replaced by a new one when it has failed for good.

    An idempotent producer's identity lives on the broker: a broker restarted empty
    does not know it, and the client either stops with a fatal error
    (UNKNOWN_PRODUCER_ID) or retries forever under a rising epoch. Either way the
    records it still held come back in its reports; a new client re-sends them (in
    event-time order, which keeps each key's order) and one line says so. Other
    failed deliveries go to ``on_failure``.
    """

    def __init__(
        self, kafka: KafkaSettings, on_failure: FailureCallback, clients: KafkaClients = LIBRDKAFKA
    ) -> None:
        self._kafka, self._clients, self._on_failure = kafka, clients, on_failure
        self._handed_back: list[Message] = []
        self._failed = False
        self._sending = False  # a serve call inside produce_all must not swap the client
        self.client = self._new_client()

    def _new_client(self) -> Producer:
        self._epoch: int | None = None
        return self._clients.producer(self._kafka, self._on_report, on_stats=self._on_stats)

    def __len__(self) -> int:
        """Records not yet acknowledged or failed."""
        return len(self.client) + len(self._handed_back)

    def send_many(
        self,
        topic: str,
        values: list[bytes],
        keys: list[bytes],
        timestamps: list[int],
        partition: int = ANY_PARTITION,
        serve: Callable[[float], object] | None = None,
    ) -> None:
        """Queue records in order (see :func:`produce_all`)."""
        while values:
            self._renew()
            self._sending = True
            try:
                produce_all(self.client, topic, values, keys, timestamps, partition, serve)
                return
            except ClientFailed as e:
                done = e.index
                values, keys, timestamps = values[done:], keys[done:], timestamps[done:]
                self._failed = True
            finally:
                self._sending = False

    def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        timestamp: int,
        headers: Headers,
        partition: int = ANY_PARTITION,
    ) -> None:
        """Queue one record with headers."""
        while True:
            try:
                produce_one(self.client, topic, value, key, timestamp, headers, partition)
                return
            except ClientFailed:
                self._failed = True
                self._renew()

    def poll(self, timeout: float) -> None:
        """Serve the client's reports, waiting up to ``timeout`` s for one."""
        self._renew()
        try:
            self.client.poll(timeout)
        except (KafkaException, SystemError) as e:
            self._fail_or_raise(e)

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for every record; returns how many are still unsent."""
        deadline = time.monotonic() + timeout
        while True:
            self._renew()
            wait = min(FLUSH_SLICE_SECONDS, max(deadline - time.monotonic(), 0.0))
            try:
                left = int(self.client.flush(wait))
            except (KafkaException, SystemError) as e:
                self._fail_or_raise(e)
                left = len(self.client)
            if (not left and not self._failed) or time.monotonic() >= deadline:
                return left + len(self._handed_back)

    def close(self) -> None:
        """Flush and release the client."""
        self.flush(FLUSH_TIMEOUT_SECONDS)
        self.client.close()

    def _on_stats(self, text: str) -> None:
        """Feed the broker watch; and a producer whose epoch keeps rising has failed too.

        librdkafka bumps an idempotent producer's epoch and retries when the broker does
        not know it. A broker restarted empty may never learn it: the embedded one answered
        each bump with UNKNOWN_PRODUCER_ID again, about 45 times a second, forever. A
        healthy producer keeps its epoch.
        """
        stats = json.loads(text)
        BROKER_WATCH.read_stats(stats)
        epoch = stats.get("eos", {}).get("producer_epoch", -1)
        if self._epoch is not None and epoch - self._epoch > EPOCH_BUMPS_PER_REPORT:
            self._failed = True
        self._epoch = epoch if epoch >= 0 else None

    def _fail_or_raise(self, error: KafkaException | SystemError) -> None:
        # A SystemError with no cause: a report's callback took the pending fatal error (and
        # set _failed), and confluent-kafka found none left to raise.
        if not (_fatal(error) or (isinstance(error, SystemError) and self._failed)):
            raise error
        self._failed = True

    def _on_report(self, error: KafkaError, message: Message) -> None:
        try:
            handed_back = error.fatal() or error.code() in _HANDED_BACK
        except SystemError as e:  # the client's fatal error was left pending (see _fatal)
            if not _fatal(e):
                raise
            handed_back = True
        if handed_back:
            self._failed = True
            self._handed_back.append(message)
        else:
            self._on_failure(error, message)

    def _renew(self) -> None:
        """If the client has failed: take back what it held and re-send it on a new one."""
        if not self._failed or self._sending:
            return
        old = self.client
        old.purge()  # what it still holds comes back in reports, served by the flush
        try:
            old.flush(PURGE_WAIT_SECONDS)
        except (KafkaException, SystemError):
            pass  # a failed client says so again; its reports are served all the same
        self._failed = False
        self.client = self._new_client()
        held, self._handed_back = sorted(self._handed_back, key=_event_time), []
        log.warning(
            "the producer client failed for good (the broker may have restarted "
            "empty): a new one re-sends the %d records it had not delivered",
            len(held),
        )
        for message in held:
            self._send_again(message)

    def _send_again(self, message: Message) -> None:
        """To the partition it had (its key's, or the one asked for); -1: none yet."""
        partition = message.partition()
        self.send(message.topic() or "", message.value() or b"", message.key(),
                  _event_time(message), _headers(message),
                  ANY_PARTITION if partition is None else partition)  # fmt: skip


def _event_time(message: Message) -> int:
    return int(message.timestamp()[1])


def _headers(message: Message) -> Headers:
    headers = message.headers() or []
    return list(headers.items()) if isinstance(headers, dict) else headers
