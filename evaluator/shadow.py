"""The models scored in shadow: beside each served version, its other variant and a challenger.

The served version's baseline (or its LightGBM model, when the baseline serves)
is always scored, so "model minus baseline, live" is a series. A challenger
is the registry's ``shadow`` (``volstream models shadow VERSION``), looked up
again every ``follow_seconds``. They score the features each prediction
carries, here in the evaluator: the consumer does nothing for them, and they
are never served.
"""

from __future__ import annotations

import logging
import time

from volstream.errors import VolstreamError
from volstream.features import FEATURE_NAMES
from volstream.model.baseline import BASELINE_FEATURE
from volstream.model.inference import Predictor, load_predictor
from volstream.model.registry import ModelRegistry
from volstream.settings import ModelSettings

__all__ = ["ShadowModels"]

log = logging.getLogger(__name__)
Model = tuple[str, str]  # version, variant


class ShadowModels:
    """Which models to score in shadow of a served one, and their predictors (on the CPU)."""

    def __init__(self, settings: ModelSettings) -> None:
        self.settings = settings
        self.registry = ModelRegistry(settings.registry)
        self._predictors: dict[Model, Predictor | None] = {}
        self._challenger: str | None = None
        self._next_look = 0.0

    def beside(self, version: str, variant: str) -> list[Predictor]:
        """The predictors to score beside ``version``/``variant`` served."""
        other = "baseline" if variant == "model" else "model"
        wanted = [(version, other)]
        challenger = self.challenger()
        if challenger and challenger != version:
            wanted.append((challenger, "model"))
        return [p for p in map(self._predictor, wanted) if p is not None]

    def reads(self, predictor: Predictor) -> tuple[str, ...]:
        """The features ``predictor`` reads: the baseline rule one, a LightGBM model all."""
        if predictor.info.variant == "baseline":
            rule = self.registry.get(predictor.info.version).metadata["baseline"]
            return (str(rule.get("feature", BASELINE_FEATURE)),)
        return FEATURE_NAMES

    def challenger(self) -> str | None:
        """The registry's challenger, read again at most every ``follow_seconds``."""
        now = time.monotonic()
        if now >= self._next_look:
            self._next_look = now + self.settings.follow_seconds
            challenger = self.registry.shadow_name()
            if challenger != self._challenger:
                log.info("challenger in shadow: %s", challenger or "none")
                self._challenger = challenger
        return self._challenger

    def _predictor(self, model: Model) -> Predictor | None:
        if model not in self._predictors:
            version, variant = model
            settings = self.settings.model_copy(update={"version": version, "variant": variant})
            try:
                self._predictors[model] = load_predictor(settings, purpose="shadow")  # on the CPU
            except VolstreamError as e:
                log.error("cannot score %s/%s in shadow: %s", version, variant, e)
                self._predictors[model] = None
        return self._predictors[model]
