"""One log line when a broker stops answering, one when it answers again.

A broker that hangs (paused, stalled disks, a long GC) keeps its TCP connections
open: librdkafka retries quietly, and nothing says why the pipeline stopped.
Every client of a process sends its statistics (once a second) here. A broker
that has requests waiting and has answered none of them, on any client, for
``STALL_SECONDS`` is stalled; the first answer after that ends the stall. The
group coordinator's logical connection is left out: a join waits there for
seconds by design.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Final

__all__ = ["BROKER_WATCH", "STATS_INTERVAL_MS", "BrokerWatch"]

log = logging.getLogger(__name__)
STALL_SECONDS: Final = 5.0
STATS_INTERVAL_MS: Final = 1000


class BrokerWatch:
    """Says when a broker stops answering and when it answers again, once for a process."""

    def __init__(self, stall_seconds: float = STALL_SECONDS) -> None:
        self.stall_seconds = stall_seconds
        self._lock = threading.Lock()
        self._received: dict[tuple[str, str], int] = {}  # (client, broker) -> responses
        self._answered: dict[str, float] = {}  # broker -> when a client last got a response
        self._stalled: dict[str, float] = {}  # broker -> when the stall was seen

    def on_stats(self, text: str) -> None:
        """librdkafka's ``stats_cb``."""
        self.read_stats(json.loads(text))

    def read_stats(self, stats: dict[str, Any]) -> None:
        """One client's statistics, parsed."""
        # librdkafka's own clock, in µs: reports served late (a poll that waited) keep their time
        now = stats["ts"] / 1e6
        for broker in stats.get("brokers", {}).values():
            if broker.get("nodeid", -1) >= 0:  # not the bootstrap or coordinator handles
                self.observe(stats["name"], broker["nodename"], broker["rx"],
                             broker["waitresp_cnt"], now)  # fmt: skip

    def observe(self, client: str, broker: str, received: int, waiting: int, now: float) -> None:
        """One client's counters for one broker: responses received, requests waiting."""
        with self._lock:
            before = self._received.get((client, broker))
            self._received[(client, broker)] = received
            answered = self._answered.setdefault(broker, now)
            if before is None or received > before:
                self._answer(broker, now, answered)
            elif waiting and broker not in self._stalled and now - answered >= self.stall_seconds:
                self._stalled[broker] = now
                log.warning("broker %s has answered nothing for %.0f s (%d requests waiting): "
                            "work waits for it", broker, now - answered, waiting)  # fmt: skip

    def _answer(self, broker: str, now: float, answered: float) -> None:
        """A response; reports may come late (a client polled after a wait): time only rises."""
        if broker in self._stalled and now > self._stalled[broker]:
            del self._stalled[broker]
            log.info("broker %s answers again after %.0f s", broker, now - answered)
        self._answered[broker] = max(answered, now)


#: The one watch of this process: every client made by :mod:`volstream.kafka.clients`.
BROKER_WATCH: Final = BrokerWatch()
