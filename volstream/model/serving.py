"""What serves, and what is scored beside it, following the registry without a restart.

A :class:`ModelSet` is the served predictor and the predictors scored in shadow
on the same rows: the other variant of the served version (the baseline beside
the LightGBM model, so "model minus baseline, live" is a series), and the
registry's challenger (``volstream models shadow VERSION``).

A :class:`RegistryFollower` loads the set the registry asks for and, every
``follow_seconds``, looks at ``registry.json`` again: a promotion, a rollback or
a new challenger is loaded beside the old set, then swapped in whole, between
two batches. A set that fails to load leaves the old one serving (one log line,
and the caller's ``on_failure``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from volstream.errors import ModelError, VolstreamError
from volstream.model.inference import ModelInfo, Predictor, load_predictor
from volstream.model.registry import ModelRegistry
from volstream.settings import DeviceSettings, ModelSettings

__all__ = ["ModelSet", "RegistryFollower"]

log = logging.getLogger(__name__)
WAIT_LOG_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class ModelSet:
    """The served predictor and the ones scored in shadow."""

    served: Predictor
    shadows: tuple[Predictor, ...]

    @property
    def names(self) -> tuple[tuple[str, str], ...]:
        """(version, variant) of every member, the served one first."""
        return tuple((p.info.version, p.info.variant) for p in (self.served, *self.shadows))

    def describe(self) -> str:
        shadows = ", ".join(_name(p.info) for p in self.shadows) or "none"
        return f"serving {_name(self.served.info)}, shadow {shadows}"


def _name(info: ModelInfo) -> str:
    return f"{info.version}/{info.variant}"


class RegistryFollower:
    """Loads the :class:`ModelSet` the registry asks for, and follows its changes."""

    def __init__(
        self,
        settings: ModelSettings,
        device: DeviceSettings,
        wrap: Callable[[Predictor], Predictor] = lambda p: p,
        on_failure: Callable[[str], None] = lambda problem: None,
    ) -> None:
        self.settings = settings
        self.registry = ModelRegistry(settings.registry)
        self._device = device
        self._wrap = wrap
        self._on_failure = on_failure
        self._stamp = self.registry.state_stamp()
        self._next_look = 0.0

    def load(self) -> ModelSet:
        """The set the registry asks for now; :class:`ModelError` if there is none."""
        self._stamp = self.registry.state_stamp()
        served = load_predictor(self.settings, self._device)
        pinned = self.settings.model_copy(update={"version": served.info.version})
        other = "baseline" if served.info.variant == "model" else "model"
        shadows = [load_predictor(pinned.model_copy(update={"variant": other}), self._device)]
        challenger = self.registry.shadow_name()
        if challenger and challenger != served.info.version:
            update = {"version": challenger, "variant": "model"}
            shadows.append(load_predictor(self.settings.model_copy(update=update), self._device))
        return ModelSet(self._wrap(served), tuple(shadows))

    def wait(self, stop: threading.Event) -> ModelSet | None:
        """Block until a model can be loaded (None if ``stop`` is set first)."""
        said = 0.0
        while not stop.is_set():
            try:
                return self.load()
            except ModelError as e:
                if time.monotonic() - said >= WAIT_LOG_EVERY_SECONDS:
                    log.warning("waiting for a model: %s", e)
                    said = time.monotonic()
            stop.wait(min(self.settings.follow_seconds, 1.0))
        return None

    def poll(self, current: ModelSet) -> ModelSet | None:
        """A new set if the registry changed and it loaded; None otherwise (time-gated)."""
        now = time.monotonic()
        if now < self._next_look:
            return None
        self._next_look = now + self.settings.follow_seconds
        stamp = self.registry.state_stamp()
        if stamp == self._stamp:
            return None
        try:
            loaded = self.load()  # a failure is said once: the stamp is taken first
        except VolstreamError as e:
            log.error("the registry changed, but the new model did not load (%s); still %s",
                      e, current.describe())  # fmt: skip
            self._on_failure(str(e))
            return None
        if loaded.names == current.names:
            return None
        log.info("registry changed: now %s (was %s)", loaded.describe(), current.describe())
        return loaded
