"""Models for tests: a tiny trained one in a registry, and a constant predictor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from volstream.model.inference import ModelInfo
from volstream.model.registry import ModelVersion
from volstream.settings import ModelSettings, TrainSettings

__all__ = ["ConstantPredictor", "train_tiny_model"]


def train_tiny_model(registry: Path, seed: int = 7) -> ModelVersion:
    """Train and promote a small LightGBM model into ``registry`` (seconds, not minutes).

    Half an hour of a ten-symbol synthetic market: enough for a model whose
    scores vary, far too little for one worth serving.
    """
    from volstream.model.training import train

    settings = {"duration_seconds": 1800, "symbols": 10, "tick_rate": 80, "seed": seed}
    # model_validate: these settings only, none from the environment
    return train(
        TrainSettings.model_validate(settings),
        ModelSettings.model_validate({"registry": registry}),
    )


class ConstantPredictor:
    """A :class:`~volstream.model.inference.Predictor` that gives every row ``probability``."""

    def __init__(self, probability: float = 0.5, version: str = "constant") -> None:
        self.probability = probability
        self.info = ModelInfo(version, "model", "constant", 0.5, 0.0)

    def predict_proba(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.full(len(features), self.probability)

    def predict_one(self, row: object) -> float:
        return self.probability
