"""Live quality from binned counts: the same figures as scikit-learn on binned scores."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss

from volstream.evaluator.quality import (
    BINS,
    ModelKey,
    QualityWindows,
    average_precision,
    probability_bins,
)

KEY = ModelKey("v1", "model", "served")


def outcomes(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    probabilities = rng.beta(1, 6, n)
    labels = rng.random(n) < probabilities * 1.3
    return labels, probabilities


def test_binned_average_precision_is_scikit_learns_on_binned_scores() -> None:
    labels, probabilities = outcomes(20_000)
    bins = probability_bins(probabilities)
    positives = np.bincount(bins[labels], minlength=BINS)
    negatives = np.bincount(bins[~labels], minlength=BINS)
    expected = average_precision_score(labels, bins)
    assert average_precision(positives, negatives) == pytest.approx(expected, abs=1e-12)
    assert average_precision(positives, negatives) == pytest.approx(
        average_precision_score(labels, probabilities), abs=0.002
    )


def test_a_window_holds_the_figures_of_its_outcomes() -> None:
    labels, probabilities = outcomes(5000)
    windows = QualityWindows({"15m": 900_000, "1h": 3_600_000})
    times = np.linspace(0, 3_000_000, 5000).astype(np.int64)
    windows.add(KEY, times, labels, probabilities, threshold=0.2)
    [short, long] = windows.summary()
    assert (short.window, long.window) == ("15m", "1h")
    assert long.outcomes == 5000
    predicted = probabilities >= 0.2
    assert long.precision == pytest.approx(np.sum(predicted & labels) / np.sum(predicted))
    assert long.recall == pytest.approx(np.sum(predicted & labels) / np.sum(labels))
    assert long.brier == pytest.approx(brier_score_loss(labels, probabilities))
    assert long.base_rate == pytest.approx(labels.mean())
    recent = times > 3_000_000 - 900_000
    assert short.outcomes == pytest.approx(recent.sum(), abs=20)  # to the slot (10 s)
    assert sum(c.outcomes for c in long.calibration) == 5000
    for point in long.calibration:
        rows = (probabilities <= point.upper) & (probabilities > point.upper - 0.1)
        assert point.predicted == pytest.approx(probabilities[rows].mean(), abs=1e-3)


def test_old_slots_leave_the_windows() -> None:
    windows = QualityWindows({"1h": 3_600_000})
    windows.add(KEY, np.array([0, 1000]), np.array([True, False]), np.array([0.9, 0.1]), 0.5)
    windows.add(KEY, np.array([7_200_000]), np.array([False]), np.array([0.2]), 0.5)
    [quality] = windows.summary()
    assert quality.outcomes == 1
    assert quality.pr_auc != quality.pr_auc  # no positive in the window: no PR-AUC


def test_each_model_is_its_own_series() -> None:
    windows = QualityWindows({"1h": 3_600_000})
    shadow = ModelKey("v1", "baseline", "shadow")
    windows.add(KEY, np.array([0]), np.array([True]), np.array([0.9]), 0.5)
    windows.add(shadow, np.array([0, 5]), np.array([True, False]), np.array([0.2, 0.3]), 0.25)
    found = {q.key: q for q in windows.summary()}
    assert found[KEY].outcomes == 1 and found[shadow].outcomes == 2
    assert found[shadow].recall == 0.0 and found[KEY].recall == 1.0
