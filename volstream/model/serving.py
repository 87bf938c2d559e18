"""What serves, following the registry without a restart.

A :class:`RegistryFollower` loads the predictor the registry asks for and,
every ``follow_seconds``, looks at ``registry.json`` again: a promotion or a
rollback is loaded beside the old predictor, then swapped in whole by the
caller (the consumer, between two batches). A version that fails to load
leaves the old one serving (one log line, and the caller's ``on_failure``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from volstream.errors import ModelError, VolstreamError
from volstream.model.inference import Placement, Predictor, load_predictor
from volstream.model.registry import ModelRegistry
from volstream.settings import DeviceSettings, ModelSettings

__all__ = ["RegistryFollower", "wait_for_model"]

log = logging.getLogger(__name__)
WAIT_LOG_EVERY_SECONDS = 60.0
T = TypeVar("T")


def wait_for_model(load: Callable[[], T], stop: threading.Event, every: float) -> T | None:
    """``load()`` once it no longer raises :class:`ModelError` (said once a minute), so that
    a service may start before the first model is trained; None if ``stop`` is set first."""
    said = float("-inf")
    while not stop.is_set():
        try:
            return load()
        except ModelError as e:
            if time.monotonic() - said >= WAIT_LOG_EVERY_SECONDS:
                log.warning("waiting for a model: %s", e)
                said = time.monotonic()
        stop.wait(every)
    return None


def describe(predictor: Predictor) -> str:
    """version/variant."""
    return f"{predictor.info.version}/{predictor.info.variant}"


class RegistryFollower:
    """Loads the predictor the registry asks for, and follows its changes."""

    def __init__(
        self,
        settings: ModelSettings,
        device: DeviceSettings,
        wrap: Callable[[Predictor], Predictor] = lambda p: p,
        on_failure: Callable[[str], None] = lambda problem: None,
    ) -> None:
        self.settings = settings
        self.registry = ModelRegistry(settings.registry)
        self._placement = Placement(device)
        self._wrap = wrap
        self._on_failure = on_failure
        self._stamp = self.registry.state_stamp()
        self._next_look = 0.0

    def load(self) -> Predictor:
        """The predictor the registry asks for now; :class:`ModelError` if there is none."""
        self._stamp = self.registry.state_stamp()
        return self._wrap(load_predictor(self.settings, self._placement))

    def wait(self, stop: threading.Event) -> Predictor | None:
        """Block until a model can be loaded (None if ``stop`` is set first)."""
        return wait_for_model(self.load, stop, min(self.settings.follow_seconds, 1.0))

    def poll(self, current: Predictor) -> Predictor | None:
        """A new predictor if the registry changed what serves and it loaded; None otherwise.

        Looks at most every ``follow_seconds``; cheap otherwise (one ``stat``).
        """
        now = time.monotonic()
        if now < self._next_look:
            return None
        self._next_look = now + self.settings.follow_seconds
        stamp = self.registry.state_stamp()
        if stamp == self._stamp:
            return None
        wanted = self.settings.version or self.registry.current_name()
        if wanted == current.info.version:
            self._stamp = stamp
            return None
        try:
            loaded = self.load()  # a failure is said once: the stamp is taken first
        except VolstreamError as e:
            log.error("the registry changed, but %s did not load (%s); still serving %s",
                      wanted, e, describe(current))  # fmt: skip
            self._on_failure(str(e))
            return None
        log.info("registry changed: now serving %s (was %s)", describe(loaded), describe(current))
        return loaded
