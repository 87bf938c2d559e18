"""The baseline: a z-score rule on recent realized volatility, calibrated to a probability.

``z = (rv_60s - mean) / std`` with the mean and standard deviation of the
training period; ``p = 1 / (1 + exp(-(coef * z + intercept)))`` with
``coef`` and ``intercept`` fitted by logistic regression on the training rows.
It answers "is volatility high right now?", which a volatility-spike model has
to beat.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from volstream.features import FEATURE_NAMES

__all__ = ["BaselineRule"]

BASELINE_FEATURE = "rv_60s"


@dataclass(frozen=True)
class BaselineRule:
    """The fitted rule; ``to_dict`` and ``from_dict`` keep it in ``model.json``."""

    mean: float
    std: float
    coef: float
    intercept: float
    feature: str = BASELINE_FEATURE

    @classmethod
    def fit(cls, features: npt.NDArray[np.float64], labels: npt.NDArray[np.bool_]) -> BaselineRule:
        """Fit on training rows."""
        from sklearn.linear_model import LogisticRegression  # training only: 100 MB to import

        values = features[:, FEATURE_NAMES.index(BASELINE_FEATURE)]
        mean, std = float(values.mean()), float(values.std()) or 1.0
        z = ((values - mean) / std).reshape(-1, 1)
        regression = LogisticRegression().fit(z, labels)
        return cls(mean, std, float(regression.coef_[0, 0]), float(regression.intercept_[0]))

    def predict_proba(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Probability of a spike for each row."""
        z = (features[:, FEATURE_NAMES.index(self.feature)] - self.mean) / self.std
        probability: npt.NDArray[np.float64] = 1.0 / (
            1.0 + np.exp(-(self.coef * z + self.intercept))
        )
        return probability

    def to_dict(self) -> dict[str, Any]:
        """For model.json."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BaselineRule:
        """From model.json."""
        return cls(**{k: data[k] for k in ("mean", "std", "coef", "intercept", "feature")})
