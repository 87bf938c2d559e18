"""When each tick is due: at a fixed rate, at its recorded pace, or at once.

A pacer turns a batch into due times on the monotonic clock; the producer sends
every tick whose time has come and sleeps until the next one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from volstream.ticks import TickBatch

__all__ = ["EventTimePacer", "FixedRatePacer", "Pacer", "Unpaced"]

DueTimes = npt.NDArray[np.float64]


class Pacer(Protocol):
    """Due times for the ticks of a batch; ``sent`` ticks went before it."""

    def due(self, batch: TickBatch, sent: int) -> DueTimes: ...


@dataclass
class Unpaced:
    """As fast as the broker takes them."""

    def due(self, batch: TickBatch, sent: int) -> DueTimes:
        return np.zeros(len(batch))


@dataclass
class FixedRatePacer:
    """``rate`` ticks per second, evenly spaced, whatever their event times."""

    rate: float
    start: float = field(default_factory=time.monotonic)

    def due(self, batch: TickBatch, sent: int) -> DueTimes:
        return self.start + (sent + np.arange(len(batch))) / self.rate


@dataclass
class EventTimePacer:
    """The recorded spacing of event times, ``speed`` times faster (never backwards)."""

    speed: float = 1.0
    start: float = field(default_factory=time.monotonic)
    first_event_ms: int | None = None

    def due(self, batch: TickBatch, sent: int) -> DueTimes:
        if not len(batch):
            return np.zeros(0)
        if self.first_event_ms is None:
            self.first_event_ms = int(batch.event_time_ms[0])
        offsets = (batch.event_time_ms - self.first_event_ms) / 1000.0 / self.speed
        return self.start + np.maximum.accumulate(np.maximum(offsets, 0.0))
