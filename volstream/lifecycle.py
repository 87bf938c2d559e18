"""Stopping cleanly: SIGINT and SIGTERM set an event the loops check between batches."""

from __future__ import annotations

import ctypes
import logging
import signal
import sys
import threading
from types import FrameType

__all__ = ["die_with_parent", "install_stop_handlers"]

_PR_SET_PDEATHSIG = 1

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


def die_with_parent() -> None:  # pragma: no cover - runs in the child
    """``preexec_fn`` of a child process: Linux stops it when its parent dies, even by kill -9."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
