"""Stopping cleanly: SIGINT and SIGTERM set an event the loops check between batches."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

__all__ = ["install_stop_handlers"]

log = logging.getLogger(__name__)


def install_stop_handlers(stop: threading.Event | None = None) -> threading.Event:
    """Make SIGINT and SIGTERM set ``stop``; a second signal raises KeyboardInterrupt."""
    stop = stop or threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.info("%s received: finishing the work in hand", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    return stop
