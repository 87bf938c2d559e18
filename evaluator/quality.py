"""Live model quality over sliding windows of event time, from binned counts.

Outcomes are counted in slots of ``SLOT_MS`` of label time, per model (version,
variant, role): positives and negatives per probability bin (``BINS`` equal bins
of [0, 1]), the probability sum per bin, the squared error, and the confusion
counts at the model's own threshold. A window is the sum of its slots, so
memory is bounded whatever the rate, and a window's metrics are:

- PR-AUC: average precision over the bins, each bin a threshold. It equals
  scikit-learn's ``average_precision_score`` of the probabilities rounded down
  to their bin (a test shows it).
- precision, recall, F1 at the serving threshold; Brier score; base rate;
  calibration (mean predicted against observed, in ``CALIBRATION_BINS`` bins).

"Now" is the newest label time seen, so a replay at any speed has the same windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "BINS",
    "CALIBRATION_BINS",
    "Calibration",
    "ModelKey",
    "QualityWindows",
    "WindowQuality",
    "average_precision",
    "probability_bins",
]

BINS: Final = 1000
CALIBRATION_BINS: Final = 10
SLOT_MS: Final = 10_000
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class ModelKey(NamedTuple):
    """Whose quality: a version, its variant, and whether it served or ran in shadow."""

    version: str
    variant: str
    role: str


def probability_bins(probabilities: FloatArray) -> IntArray:
    """The bin of each probability: ``floor(p * BINS)``, 1.0 in the last bin."""
    return np.minimum((probabilities * BINS).astype(np.int64), BINS - 1)


def average_precision(positives: IntArray, negatives: IntArray) -> float:
    """Average precision of binned scores (bins in ascending probability); NaN without positives."""
    total = int(positives.sum())
    if total == 0:
        return float("nan")
    occupied = (positives + negatives)[::-1] > 0
    true_positives = np.cumsum(positives[::-1])[occupied]
    predicted = np.cumsum((positives + negatives)[::-1])[occupied]
    precision = true_positives / predicted
    recall = true_positives / total
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


@dataclass
class _Slot:
    positives: IntArray = field(default_factory=lambda: np.zeros(BINS, np.int64))
    negatives: IntArray = field(default_factory=lambda: np.zeros(BINS, np.int64))
    probability_sum: FloatArray = field(default_factory=lambda: np.zeros(BINS))
    squared_error: float = 0.0
    confusion: IntArray = field(default_factory=lambda: np.zeros(4, np.int64))  # tp fp fn tn


class Calibration(NamedTuple):
    """One calibration bin: up to ``upper``, how many outcomes, mean predicted, observed share."""

    upper: float
    outcomes: int
    predicted: float
    observed: float


@dataclass(frozen=True)
class WindowQuality:
    """The quality of one model over one window."""

    key: ModelKey
    window: str
    outcomes: int
    base_rate: float
    pr_auc: float
    precision: float
    recall: float
    f1: float
    brier: float
    calibration: tuple[Calibration, ...]


class QualityWindows:
    """Binned outcome counts per model and slot; window metrics on demand."""

    def __init__(self, windows_ms: dict[str, int], slot_ms: int = SLOT_MS) -> None:
        self.windows_ms = windows_ms
        self.slot_ms = slot_ms
        self.now_ms: int | None = None
        self._slots: dict[ModelKey, dict[int, _Slot]] = {}

    def add(
        self,
        key: ModelKey,
        label_time_ms: IntArray,
        labels: npt.NDArray[np.bool_],
        probabilities: FloatArray,
        threshold: float,
    ) -> None:
        """Count outcomes of one model."""
        if len(labels) == 0:
            return
        slots = self._slots.setdefault(key, {})
        slot_of = label_time_ms // self.slot_ms
        bins = probability_bins(probabilities)
        predicted = probabilities >= threshold
        for number in np.unique(slot_of).tolist():
            rows = slot_of == number
            slot = slots.setdefault(number, _Slot())
            y, b, p = labels[rows], bins[rows], probabilities[rows]
            slot.positives += np.bincount(b[y], minlength=BINS)
            slot.negatives += np.bincount(b[~y], minlength=BINS)
            slot.probability_sum += np.bincount(b, weights=p, minlength=BINS)
            slot.squared_error += float(np.sum((p - y) ** 2))
            hit = predicted[rows]
            slot.confusion += [
                np.sum(hit & y), np.sum(hit & ~y), np.sum(~hit & y), np.sum(~hit & ~y),
            ]  # fmt: skip
        newest = int(label_time_ms.max())
        self.now_ms = newest if self.now_ms is None else max(self.now_ms, newest)
        self._expire()

    def keys(self) -> list[ModelKey]:
        """Every model with outcomes in the longest window."""
        return [key for key, slots in self._slots.items() if slots]

    def summary(self) -> list[WindowQuality]:
        """Every model's quality over every window that holds outcomes."""
        found = []
        for key in self.keys():
            for window, length in self.windows_ms.items():
                quality = self._quality(key, window, length)
                if quality is not None:
                    found.append(quality)
        return found

    def _quality(self, key: ModelKey, window: str, length_ms: int) -> WindowQuality | None:
        assert self.now_ms is not None  # noqa: S101 - keys exist only after an add
        first = (self.now_ms - length_ms) // self.slot_ms + 1
        slots = [s for number, s in self._slots[key].items() if number >= first]
        if not slots:
            return None
        positives = np.sum([s.positives for s in slots], axis=0)
        negatives = np.sum([s.negatives for s in slots], axis=0)
        probability_sum = np.sum([s.probability_sum for s in slots], axis=0)
        tp, fp, fn, _ = np.sum([s.confusion for s in slots], axis=0).tolist()
        outcomes = int(positives.sum() + negatives.sum())
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return WindowQuality(
            key=key,
            window=window,
            outcomes=outcomes,
            base_rate=float(positives.sum()) / outcomes,
            pr_auc=average_precision(positives, negatives),
            precision=precision,
            recall=recall,
            f1=f1,
            brier=sum(s.squared_error for s in slots) / outcomes,
            calibration=_calibration(positives, negatives, probability_sum),
        )

    def _expire(self) -> None:
        assert self.now_ms is not None  # noqa: S101 - called after an add
        first = (self.now_ms - max(self.windows_ms.values())) // self.slot_ms + 1
        for slots in self._slots.values():
            for number in [n for n in slots if n < first]:
                del slots[number]


def _calibration(
    positives: IntArray, negatives: IntArray, probability_sum: FloatArray
) -> tuple[Calibration, ...]:
    per = BINS // CALIBRATION_BINS
    counts = (positives + negatives).reshape(CALIBRATION_BINS, per).sum(axis=1)
    hits = positives.reshape(CALIBRATION_BINS, per).sum(axis=1)
    sums = probability_sum.reshape(CALIBRATION_BINS, per).sum(axis=1)
    return tuple(
        Calibration((i + 1) / CALIBRATION_BINS, int(n), float(s / n), float(h / n))
        for i, (n, h, s) in enumerate(zip(counts, hits, sums, strict=True))
        if n > 0
    )
