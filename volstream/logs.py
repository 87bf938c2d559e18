"""Logging set-up: one line per event, to standard error."""

from __future__ import annotations

import logging

__all__ = ["setup_logging"]

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(level: str = "INFO") -> None:
    """Log ``level`` and above to standard error; librdkafka chatter only from WARNING."""
    logging.basicConfig(level=level.upper(), format=FORMAT, force=True)
    logging.getLogger("volstream.librdkafka").setLevel(logging.WARNING)
