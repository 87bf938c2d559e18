"""Inference behind one interface: ``predict_proba(features) -> probabilities``.

Callers (the consumer, the API) hold a :class:`Predictor` and never know which
backend or variant is behind it. :func:`load_predictor` picks the version
(current, or pinned) and the variant (the LightGBM model or the baseline rule).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Protocol

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from volstream.errors import ModelError
from volstream.features import FEATURE_NAMES
from volstream.model.baseline import BaselineRule
from volstream.model.registry import ModelRegistry, ModelVersion
from volstream.settings import ModelSettings

__all__ = ["LightGBMPredictor", "BaselinePredictor", "ModelInfo", "Predictor", "load_predictor"]

log = logging.getLogger(__name__)
Probabilities = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ModelInfo:
    """What serves: for logs, metrics and the prediction documents."""

    version: str
    variant: str
    backend: str
    threshold: float
    load_seconds: float


class Predictor(Protocol):
    """Scores feature rows (columns in :data:`FEATURE_NAMES` order)."""

    info: ModelInfo

    def predict_proba(self, features: npt.NDArray[np.float64]) -> Probabilities:
        """Probability of a volatility spike for each row."""
        ...


class LightGBMPredictor:
    """LightGBM's own CPU inference, with a set number of threads."""

    def __init__(self, booster: lgb.Booster, info: ModelInfo, threads: int) -> None:
        self.info = info
        self._booster = booster
        self._threads = threads

    def predict_proba(self, features: npt.NDArray[np.float64]) -> Probabilities:
        if len(features) == 0:
            return np.zeros(0)
        return np.asarray(
            self._booster.predict(features, num_threads=self._threads), dtype=np.float64
        )


class BaselinePredictor:
    """The baseline rule of a model version."""

    def __init__(self, rule: BaselineRule, info: ModelInfo) -> None:
        self.info = info
        self._rule = rule

    def predict_proba(self, features: npt.NDArray[np.float64]) -> Probabilities:
        return self._rule.predict_proba(features)


def load_predictor(settings: ModelSettings) -> Predictor:
    """The predictor the settings ask for; :class:`ModelError` with one line if it cannot be."""
    registry = ModelRegistry(settings.registry)
    version = registry.get(settings.version) if settings.version else registry.current()
    check_features(version)
    started = time.perf_counter()
    predictor: Predictor
    if settings.variant == "baseline":
        rule = BaselineRule.from_dict(version.metadata["baseline"])
        threshold = float(version.metadata["baseline"]["threshold"])
        info = ModelInfo(version.name, "baseline", "rule", threshold, time.perf_counter() - started)
        predictor = BaselinePredictor(rule, info)
    else:
        booster = _load_booster(version)
        threshold = float(version.metadata["threshold"])
        info = ModelInfo(
            version.name, "model", "lightgbm-cpu", threshold, time.perf_counter() - started
        )
        predictor = LightGBMPredictor(booster, info, settings.threads)
    log.info(
        "serving model %s (%s, %s) threshold %.4f, loaded in %.3f s",
        info.version, info.variant, info.backend, info.threshold, info.load_seconds,
    )  # fmt: skip
    return predictor


def _load_booster(version: ModelVersion) -> lgb.Booster:
    try:
        booster = lgb.Booster(model_file=str(version.model_file))
    except lgb.basic.LightGBMError as e:
        raise ModelError(f"cannot load {version.model_file}: {e}") from e
    if list(booster.feature_name()) != list(FEATURE_NAMES):
        raise ModelError(_mismatch(version.name, booster.feature_name()))
    return booster


def check_features(version: ModelVersion) -> None:
    """Refuse a version whose feature list is not the engine's."""
    names = version.metadata.get("feature_names")
    if names != list(FEATURE_NAMES):
        raise ModelError(_mismatch(version.name, names))


def _mismatch(name: str, names: object) -> str:
    return (
        f"model {name} was trained on features {names}, but this engine computes "
        f"{list(FEATURE_NAMES)}: retrain it with `volstream train`"
    )
