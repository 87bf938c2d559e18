"""Logging set-up: one line per event, to standard error."""

from __future__ import annotations

import logging
import time

__all__ = ["RepeatFilter", "setup_logging"]

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class RepeatFilter(logging.Filter):
    """Let a message through once per ``window`` seconds; say how many were held back.

    librdkafka reports every failed reconnect, many times a second while a
    broker is down: one line says as much as a thousand.
    """

    def __init__(self, window: float = 30.0) -> None:
        super().__init__()
        self._window = window
        self._seen: dict[str, tuple[float, int]] = {}  # message -> (last shown, held back since)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        now = time.monotonic()
        shown, held = self._seen.get(message, (float("-inf"), 0))
        if now - shown < self._window:
            self._seen[message] = (shown, held + 1)
            return False
        if held:
            record.msg, record.args = f"{message} (and {held} more like it)", ()
        self._seen[message] = (now, 0)
        if len(self._seen) > 1000:  # messages with changing details must not pile up
            self._seen.clear()
        return True


def setup_logging(level: str = "INFO") -> None:
    """Log ``level`` and above to standard error; librdkafka chatter only from WARNING."""
    logging.basicConfig(level=level.upper(), format=FORMAT, force=True)
    logging.getLogger("volstream.librdkafka").setLevel(logging.WARNING)
