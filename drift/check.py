"""One drift pass: Evidently's data drift of every model feature and of the predicted probability.

The stat test per column is Evidently's choice (for more than 1,000 rows of a
numerical column, the normed Wasserstein distance with threshold 0.1) unless
``VOLSTREAM_DRIFT_METHOD``/``_THRESHOLD`` set one. A column has drifted when
Evidently's own test for it fails; the dataset has drifted when at least
``drift_share`` of the features have (the prediction is judged apart).

This module is the adapter to Evidently: :func:`compute_drift` and
:func:`known_methods` are the only code that touches it, and what they return is
plain data and the rendered HTML report. An Evidently upgrade changes this file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.metrics import ValueDrift
from evidently.presets import DataDriftPreset

from volstream.drift.window import Window
from volstream.errors import ConfigError, ModelError
from volstream.features import FEATURE_NAMES
from volstream.model.registry import ModelVersion
from volstream.settings import DriftSettings

__all__ = [
    "ColumnDrift",
    "DriftResult",
    "check_method",
    "compute_drift",
    "known_methods",
    "load_reference",
    "run_check",
]

PREDICTION = "probability"
COLUMNS = [*FEATURE_NAMES, PREDICTION]


@dataclass(frozen=True)
class ColumnDrift:
    """Evidently's verdict on one column."""

    score: float
    method: str
    threshold: float
    detected: bool


@dataclass(frozen=True)
class DriftResult:
    """What a pass found, and Evidently's HTML report of it."""

    features: dict[str, ColumnDrift]
    prediction: ColumnDrift
    drifted_share: float
    dataset_drift: bool
    current_rows: int
    reference_rows: int
    model_version: str
    seconds: float
    html: str


def known_methods() -> list[str]:
    """The stat tests Evidently knows by name (``VOLSTREAM_DRIFT_METHOD``'s choices).

    Evidently 0.7 has no public list of them: its registry is private, so it is
    read here and nowhere else (tests/test_drift.py fails if it moves).
    """
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests

    return sorted(_registered_stat_tests)


def check_method(method: str | None) -> None:
    """A stat test Evidently does not know stops start-up with one line."""
    known = known_methods()
    if method is not None and method not in known:
        msg = f"unknown drift method {method!r} (VOLSTREAM_DRIFT_METHOD); known: {', '.join(known)}"
        raise ConfigError(msg)


def load_reference(version: ModelVersion) -> pd.DataFrame:
    """The version's reference sample; :class:`ModelError` if it does not fit the model."""
    path = version.reference_file
    try:
        reference = pd.read_parquet(path)
    except (OSError, ValueError) as e:
        msg = f"cannot read the drift reference {path}: {e}"
        raise ModelError(msg) from e
    version.check_features()
    missing = [c for c in COLUMNS if c not in reference.columns]
    if missing:
        msg = (
            f"the drift reference {path} has columns {list(reference.columns)}, but drift "
            f"needs {COLUMNS}: retrain with `volstream train`"
        )
        raise ModelError(msg)
    return reference[COLUMNS]


def run_check(
    window: Window, reference: pd.DataFrame, version: str, settings: DriftSettings
) -> DriftResult:
    """Judge ``window`` against ``reference``."""
    started = time.perf_counter()
    current = pd.DataFrame(window.features, columns=list(FEATURE_NAMES))
    current[PREDICTION] = window.probability
    columns, html = compute_drift(reference, current, settings)
    features = {name: columns[name] for name in FEATURE_NAMES}
    share = sum(c.detected for c in features.values()) / len(features)
    return DriftResult(
        features=features,
        prediction=columns[PREDICTION],
        drifted_share=share,
        dataset_drift=share >= settings.drift_share,
        current_rows=len(window),
        reference_rows=len(reference),
        model_version=version,
        seconds=time.perf_counter() - started,
        html=html,
    )


def compute_drift(
    reference: pd.DataFrame, current: pd.DataFrame, settings: DriftSettings
) -> tuple[dict[str, ColumnDrift], str]:
    """Evidently's verdict on each column of ``COLUMNS``, and its HTML report."""
    definition = DataDefinition(numerical_columns=COLUMNS)
    drifts = {
        column: ValueDrift(column=column, method=settings.method, threshold=settings.threshold)
        for column in COLUMNS
    }
    report = Report(
        [
            DataDriftPreset(
                columns=list(FEATURE_NAMES),
                method=settings.method,
                threshold=settings.threshold,
                drift_share=settings.drift_share,
            ),
            drifts[PREDICTION],
        ],  # fmt: skip
        include_tests=True,
    )
    snapshot = report.run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    # The preset runs the same ValueDrift per feature: an equal metric has the same id.
    context = snapshot.context
    columns = {}
    for column, metric in drifts.items():
        result = context.get_metric_result(metric)
        resolved = context.get_metric(metric.metric_id).to_metric_config().params
        columns[column] = ColumnDrift(
            score=float(result.value),
            method=str(resolved["method"]),
            threshold=float(resolved["threshold"]),
            detected=any(test.status.value == "FAIL" for test in result.tests),
        )
    return columns, snapshot.get_html_str(as_iframe=False)
