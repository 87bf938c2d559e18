"""Judging predictions whose horizon has passed: each model's realized label, and its counts.

The served model is labelled from the prediction itself; the models in shadow
(:mod:`volstream.evaluator.shadow`) first score the features the prediction carries. Every
model's labels also go to the quality windows, as columns (:data:`Counts`), so
the live path and the restore from the outcomes topic count the same way
(:func:`count`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from msgspec.structs import astuple

from volstream.evaluator.metrics import EvaluatorMetrics
from volstream.evaluator.quality import ModelKey, QualityWindows
from volstream.evaluator.shadow import ShadowModels
from volstream.evaluator.versions import VersionBook
from volstream.features import FEATURE_NAMES
from volstream.outcomes import ModelOutcome, Outcome
from volstream.predictions import FullPredictionHead, LabelFeatures, PredictionHead

__all__ = ["Counts", "Judge", "count", "counts_of"]

FloatArray = npt.NDArray[np.float64]
#: Per model judged: its key, label times, labels, probabilities and threshold.
Counts = list[
    tuple[ModelKey, npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.float64], float]
]


@dataclass(frozen=True)
class _Column:
    """Predictions of one served version being judged: rows, what happened, and where to put it."""

    rows: list[int]
    realized: FloatArray
    label_times: npt.NDArray[np.int64]
    judged: list[list[ModelOutcome]]
    counts: Counts


class Judge:
    """Each model's outcome for predictions whose realized volatility is known."""

    def __init__(
        self,
        versions: VersionBook,
        shadows: ShadowModels,
        horizon_ms: int,
        metrics: EvaluatorMetrics,
    ) -> None:
        self.versions, self.shadows = versions, shadows
        self.horizon_ms = horizon_ms
        self.metrics = metrics

    def models(
        self, heads: list[PredictionHead], volatility: FloatArray, counts: Counts
    ) -> list[list[ModelOutcome]]:
        """Per prediction: the served model's realized label, then each shadow's.

        The models in shadow score together the predictions of one served version
        (nearly always the whole batch), from the features each prediction carries.
        """
        judged: list[list[ModelOutcome]] = [[] for _ in heads]
        for (version, variant), rows in _by_served(heads).items():
            realized = volatility[rows]
            label_times = np.array([heads[r].event_time_ms for r in rows]) + self.horizon_ms
            column = _Column(rows, realized, label_times, judged, counts)
            probabilities = np.array([heads[row].probability for row in rows])
            self._label(column, ModelKey(version, variant, "served"), heads[rows[0]].threshold,
                        probabilities)  # fmt: skip
            group = [heads[row] for row in rows]
            carried = _carried(group)
            shadows = [p for p in self.shadows.beside(version, variant)
                       if set(self.shadows.reads(p)) <= carried]  # fmt: skip
            if not shadows:
                continue
            read = {name for predictor in shadows for name in self.shadows.reads(predictor)}
            features = _feature_matrix(group, read)
            for predictor in shadows:
                info = predictor.info
                self._label(column, ModelKey(info.version, info.variant, "shadow"), info.threshold,
                            predictor.predict_proba(features))  # fmt: skip
        return judged

    def _label(
        self, column: _Column, key: ModelKey, threshold: float, probabilities: FloatArray
    ) -> None:
        """One model's outcome for each row of ``column``, labelled by its version's level."""
        level = self.versions.level(key.version)
        if level is None:
            self.metrics.unknown_versions.inc(len(column.rows))
            return
        labels = column.realized > level
        column.counts.append((key, column.label_times, labels, probabilities, threshold))
        version, variant, role = key
        outcomes = [
            ModelOutcome(version, variant, role, probability, threshold, level, label)  # type: ignore[arg-type]
            for probability, label in zip(probabilities.tolist(), labels.tolist(), strict=True)
        ]
        judged = column.judged
        for row, outcome in zip(column.rows, outcomes, strict=True):
            judged[row].append(outcome)


def count(
    windows: QualityWindows,
    lock: threading.Lock,
    counts: Counts,
    metrics: EvaluatorMetrics | None = None,
) -> None:
    """Add judged models to the quality windows (and to the outcome counters)."""
    with lock:
        for key, times, labels, probabilities, threshold in counts:
            windows.add(key, times, labels, probabilities, threshold)
    if metrics is not None:
        for key, times, *_ in counts:
            metrics.outcomes.labels(*key).inc(len(times))


def counts_of(outcomes: list[Outcome]) -> Counts:
    """The counts of published outcomes (read back from the topic after a restart)."""
    columns: dict[ModelKey, tuple[list[int], list[bool], list[float], float]] = {}
    for outcome in outcomes:
        for model in outcome.models:
            key = ModelKey(model.model_version, model.model_variant, model.role)
            times, labels, probabilities, _ = columns.setdefault(key, ([], [], [], model.threshold))
            times.append(outcome.label_time_ms)
            labels.append(model.label)
            probabilities.append(model.probability)
    return [
        (key, np.array(times, dtype=np.int64), np.array(labels, dtype=np.bool_),
         np.array(probabilities), threshold)
        for key, (times, labels, probabilities, threshold) in columns.items()
    ]  # fmt: skip


def _by_served(heads: list[PredictionHead]) -> dict[tuple[str, str], list[int]]:
    """Row numbers of the predictions of each served version and variant."""
    served = [(h.model_version, h.model_variant) for h in heads]
    if len(set(served)) == 1:
        return {served[0]: list(range(len(heads)))}
    groups: dict[tuple[str, str], list[int]] = {}
    for row, key in enumerate(served):
        groups.setdefault(key, []).append(row)
    return groups


def _feature_matrix(heads: list[PredictionHead], read: set[str]) -> FloatArray:
    """The feature rows of ``heads``; only the columns in ``read`` filled (the rest NaN)."""
    if len(read) == len(FEATURE_NAMES):
        return np.array([astuple(head.features) for head in heads])
    matrix = np.full((len(heads), len(FEATURE_NAMES)), np.nan)
    for name in read:
        matrix[:, FEATURE_NAMES.index(name)] = [getattr(h.features, name) for h in heads]
    return matrix


def _carried(heads: list[PredictionHead]) -> set[str]:
    """The features these predictions were decoded with (all, or the label's)."""
    if all(isinstance(head, FullPredictionHead) for head in heads):
        return set(FEATURE_NAMES)
    return set(LabelFeatures.__struct_fields__)
