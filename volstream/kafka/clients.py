"""librdkafka settings every volstream client shares, in one place.

``*_DEFAULTS`` are tuning: ``VOLSTREAM_KAFKA__*`` properties override them.
``*_REQUIRED`` are what correctness depends on: nothing overrides them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from confluent_kafka import Consumer, KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient

from volstream.kafka.watch import BROKER_WATCH, STATS_INTERVAL_MS
from volstream.logs import RepeatFilter
from volstream.settings import KafkaSettings

__all__ = [
    "CONSUMER_DEFAULTS",
    "CONSUMER_REQUIRED",
    "LIBRDKAFKA",
    "LIBRDKAFKA_LOG",
    "PARTITION_EOF",
    "PRODUCER_DEFAULTS",
    "PRODUCER_REQUIRED",
    "KafkaClients",
    "make_admin",
    "make_consumer",
    "make_producer",
    "make_reader",
]

log = logging.getLogger(__name__)
PARTITION_EOF: Final = KafkaError._PARTITION_EOF  # noqa: SLF001 - librdkafka's name for it
LIBRDKAFKA_LOG = logging.getLogger("volstream.librdkafka")  # every client logs here
for _logger in (log, LIBRDKAFKA_LOG):
    _logger.addFilter(RepeatFilter())  # a broker that is down is said once per 30 s
_QUIET = logging.getLogger("volstream.librdkafka.quiet")
_QUIET.setLevel(logging.CRITICAL)
_QUIET.propagate = False

PRODUCER_REQUIRED: Final[dict[str, Any]] = {
    "enable.idempotence": True,  # retries never duplicate or reorder a partition's records
    "delivery.report.only.error": True,  # successes are counted per batch, not per record
    # volstream creates its topics with their partition counts (outcomes must match
    # predictions): a record never makes one with the broker's default count. Such a record
    # waits for its topic instead (after an empty restart, until the topics are created).
    "allow.auto.create.topics": False,
}
PRODUCER_DEFAULTS: Final[dict[str, Any]] = {
    "batch.size": 1_000_000,
    "compression.type": "lz4",  # JSON documents are repetitive: far fewer bytes, little CPU
    "queue.buffering.max.messages": 500_000,
    "socket.nagle.disable": True,  # with Nagle on, some acks waited for a timer on Tansu
}
CONSUMER_REQUIRED: Final[dict[str, Any]] = {
    "enable.auto.commit": False,  # offsets are committed only after the work is acknowledged
    "enable.auto.offset.store": False,
}
CONSUMER_DEFAULTS: Final[dict[str, Any]] = {
    "auto.offset.reset": "earliest",  # a new group starts from the oldest tick: nothing is skipped
    "session.timeout.ms": 10_000,  # a dead member's partitions move on within 10 s
    # KIP-429: a rebalance moves only the partitions that change owner; the others keep
    # flowing. Every member of a group must use it (a mix with eager assignors fails).
    "partition.assignment.strategy": "cooperative-sticky",
    "heartbeat.interval.ms": 3_000,
    "socket.nagle.disable": True,
}

FailureCallback = Callable[[KafkaError, Message], None]
StatsCallback = Callable[[str], None]


def _on_client_error(error: KafkaError) -> None:
    log.warning("kafka client: %s", error.str())


# Statistics feed the broker watch (one log line when a broker stops answering, one when it
# answers again). They are served by the client's poll: only clients polled all the time
# may have them, or the unserved reports would pile up.
_WATCHED: Final[dict[str, Any]] = {"statistics.interval.ms": STATS_INTERVAL_MS}


def make_producer(
    kafka: KafkaSettings, on_failure: FailureCallback, *, on_stats: StatsCallback | None = None
) -> Producer:
    """A producer that reports only failed deliveries, to ``on_failure``, and its statistics
    once a second to ``on_stats`` (for a producer polled all the time; it feeds the broker
    watch)."""
    return Producer(
        kafka.client_config(
            {**PRODUCER_DEFAULTS, "linger.ms": kafka.linger_ms, **(_WATCHED if on_stats else {})},
            **PRODUCER_REQUIRED,
            on_delivery=on_failure,
            logger=LIBRDKAFKA_LOG,
            error_cb=_on_client_error,
            **({"stats_cb": on_stats} if on_stats else {}),
        )
    )


def make_consumer(
    kafka: KafkaSettings,
    group: str,
    *,
    tuning: Mapping[str, Any] | None = None,
    required: Mapping[str, Any] | None = None,
) -> Consumer:
    """A group member that commits only what the caller commits; it feeds the broker watch.

    ``tuning`` goes over our defaults (and under the user's properties);
    ``required`` over everything.
    """
    return Consumer(
        kafka.client_config(
            {**CONSUMER_DEFAULTS, "fetch.wait.max.ms": kafka.fetch_wait_ms, **_WATCHED,
             **(tuning or {})},
            **CONSUMER_REQUIRED,
            **{"group.id": group},
            logger=LIBRDKAFKA_LOG,
            error_cb=_on_client_error,
            stats_cb=BROKER_WATCH.on_stats,
            **(required or {}),
        )
    )  # fmt: skip


def make_reader(kafka: KafkaSettings, purpose: str = "reader") -> Consumer:
    """A consumer that joins no group: the caller assigns partitions, and it never commits.

    For watermarks, offsets-for-times and reading a topic's tail; ``purpose`` names
    its throwaway group id in the broker's logs. Its reads end at a known offset, so a
    fetch waits no longer than a consumer's (librdkafka's 500 ms made each partition's
    rebuild after an assignment take a second).
    """
    return Consumer(
        kafka.client_config(
            {"fetch.wait.max.ms": kafka.fetch_wait_ms},
            **{
                "group.id": f"volstream-{purpose}-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "logger": LIBRDKAFKA_LOG,
                "error_cb": _on_client_error,
            },
        )
    )


def make_admin(kafka: KafkaSettings, quiet: bool = False) -> AdminClient:
    """An admin client; ``quiet`` keeps librdkafka's lines out of sight (while a broker starts,
    it logs every refused connection)."""
    return AdminClient(kafka.client_config(None, logger=_QUIET if quiet else LIBRDKAFKA_LOG))


class ConsumerFactory(Protocol):
    def __call__(
        self,
        kafka: KafkaSettings,
        group: str,
        *,
        tuning: Mapping[str, Any] | None = None,
        required: Mapping[str, Any] | None = None,
    ) -> Consumer: ...


class ProducerFactory(Protocol):
    def __call__(
        self,
        kafka: KafkaSettings,
        on_failure: FailureCallback,
        *,
        on_stats: StatsCallback | None = None,
    ) -> Producer: ...


@dataclass(frozen=True)
class KafkaClients:
    """How a service makes its Kafka clients: librdkafka's, or the in-memory fakes of
    :mod:`volstream.testing` in a test that needs no broker."""

    consumer: ConsumerFactory = make_consumer
    reader: Callable[[KafkaSettings, str], Consumer] = make_reader
    producer: ProducerFactory = make_producer


#: The real clients.
LIBRDKAFKA: Final = KafkaClients()
