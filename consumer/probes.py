"""The consumer's ``/health`` and ``/ready``, answered on its metrics port.

Liveness: the batch loop still goes round. Readiness: partitions are assigned and none
is stalled or stopped (the lag health of ``docs/metrics.md``). Kubernetes restarts a
consumer that fails the first and marks one that fails the second not ready.
"""

from __future__ import annotations

import time
from typing import Final

from volstream.consumer.lag import LagTracker
from volstream.lag import Health
from volstream.metrics import Probe, ProbeResult

__all__ = ["LOOP_STUCK_AFTER_SECONDS", "ConsumerProbes"]

#: A loop that has not gone round for this long is stuck. One round can wait out a flush
#: (``VOLSTREAM_KAFKA_ACK_TIMEOUT_SECONDS``, 30 s) or a rebuild of a partition's state.
LOOP_STUCK_AFTER_SECONDS: Final = 120.0


class ConsumerProbes:
    """Checks read from the tracker the batch loop updates; called from the metrics thread."""

    def __init__(self, tracker: LagTracker, stuck_after: float = LOOP_STUCK_AFTER_SECONDS) -> None:
        self.tracker, self.stuck_after = tracker, stuck_after

    def routes(self) -> dict[str, Probe]:
        return {"/health": self.health, "/ready": self.ready}

    def health(self) -> ProbeResult:
        turned_at = self.tracker.turned_at
        if turned_at is None:
            return True, "starting: the batch loop has not started yet"
        idle = time.monotonic() - turned_at
        if idle > self.stuck_after:
            return False, f"stuck: the batch loop has not gone round for {idle:.0f} s"
        return True, "ok"

    def ready(self) -> ProbeResult:
        tracker, now = self.tracker, time.time()
        with tracker.lock:
            partitions = sorted(tracker.partitions)
            behind = [p for p in partitions if tracker.health(p, now) >= Health.STALLED]
        if not partitions:
            return False, "not ready: no partition assigned"
        if behind:
            listed = ", ".join(map(str, behind))
            return False, f"not ready: partitions {listed} stalled or stopped"
        count = len(partitions)
        return True, f"ready: {count} partition{'s' if count > 1 else ''} assigned"
