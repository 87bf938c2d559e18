"""One drift pass: Evidently's data drift of every model feature and of the predicted probability.

Each column is scored with the normed Wasserstein distance, against the
threshold that the model version's calibration gives a window of this size
(:mod:`volstream.drift.calibration`). ``VOLSTREAM_DRIFT_METHOD``/``_THRESHOLD``
override it with a fixed test; a version with no calibration gets Evidently's
own choice (for more than 1,000 rows, the same distance at a fixed 0.1). A
column has drifted when Evidently's test for it fails; the dataset has drifted
when at least ``drift_share`` of the features have (the prediction is judged apart).

This module is the adapter to Evidently: :func:`compute_drift` and
:func:`known_methods` are the only code that touches it, and what they return is
plain data and the rendered HTML report. An Evidently upgrade changes this file.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.metrics import ValueDrift
from evidently.presets import DataDriftPreset

from volstream.drift.calibration import Calibration
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
    "load_calibration",
    "load_reference",
    "run_check",
]

PREDICTION = "probability"
COLUMNS = [*FEATURE_NAMES, PREDICTION]


@dataclass(frozen=True)
class ColumnDrift:
    """Evidently's verdict on one column; with a calibration, how rare the score is."""

    score: float
    method: str
    threshold: float
    detected: bool
    exceedance: float | None = None  # the share of normal windows that score this high


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
    thresholds: str  # where the thresholds came from
    calibrated_rows: int | None = None  # the calibrated window size that judged this one


def known_methods() -> list[str]:
    """The stat tests Evidently knows by name (``VOLSTREAM_DRIFT_METHOD``'s choices).

    Evidently 0.7 has no public list of them: its registry is private, so it is
    read here and nowhere else (tests/test_drift.py fails if it moves).
    """
    return sorted(_stat_tests())


def _stat_tests() -> dict[str, str]:
    """Evidently's stat tests: name to display name."""
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests

    return {name: next(iter(tests.values())).display_name
            for name, tests in _registered_stat_tests.items()}  # fmt: skip


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


def load_calibration(version: ModelVersion) -> Calibration | None:
    """The version's drift calibration; None for a version trained before calibrations."""
    calibration = Calibration.load(version.drift_null_file)
    if calibration is not None and set(calibration.scores) != set(COLUMNS):
        msg = (
            f"the drift calibration {version.drift_null_file} scores {sorted(calibration.scores)}, "
            f"but drift judges {COLUMNS}: retrain with `volstream train`"
        )
        raise ModelError(msg)
    return calibration


def run_check(
    window: Window,
    reference: pd.DataFrame,
    version: str,
    settings: DriftSettings,
    calibration: Calibration | None = None,
) -> DriftResult:
    """Judge ``window`` against ``reference``, with ``calibration``'s thresholds unless
    the settings name a test or a threshold."""
    started = time.perf_counter()
    current = pd.DataFrame(window.features, columns=list(FEATURE_NAMES))
    current[PREDICTION] = window.probability
    rows = len(window)
    used = None if _fixed(settings) else calibration
    if used is None:
        method, thresholds = settings.method, dict.fromkeys(COLUMNS, settings.threshold)
    else:
        method = used.method
        thresholds = {c: used.threshold(c, rows, settings.quantile) for c in COLUMNS}
    columns, html = compute_drift(reference, current, method, thresholds, settings.drift_share)
    if used is not None:
        columns = {name: replace(c, exceedance=used.exceedance(name, rows, c.score))
                   for name, c in columns.items()}  # fmt: skip
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
        thresholds=_origin(settings, used, version),
        calibrated_rows=used.size_for(rows) if used else None,
    )


def _fixed(settings: DriftSettings) -> bool:
    """The settings name a test or a threshold: they replace the calibration."""
    return settings.method is not None or settings.threshold is not None


def _origin(settings: DriftSettings, used: Calibration | None, version: str) -> str:
    """Where the thresholds came from, for the summary and the log."""
    if used is not None:
        return f"calibrated: the {settings.quantile:g} quantile of normal windows"
    if _fixed(settings):
        return "fixed (VOLSTREAM_DRIFT_METHOD/THRESHOLD)"
    return f"Evidently's defaults: model {version} has no drift calibration (retrain it)"


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    method: str | None,
    thresholds: Mapping[str, float | None],
    drift_share: float,
) -> tuple[dict[str, ColumnDrift], str]:
    """Evidently's verdict on each column of ``COLUMNS``, and its HTML report.

    ``method`` None lets Evidently choose; a None threshold is the test's own.
    """
    definition = DataDefinition(numerical_columns=COLUMNS)
    drifts = {
        column: ValueDrift(column=column, method=method, threshold=thresholds[column])
        for column in COLUMNS
    }
    chosen = {name: value for name, value in thresholds.items() if value is not None}
    report = Report(
        [
            DataDriftPreset(
                columns=list(FEATURE_NAMES),
                method=method,
                per_column_threshold=chosen or None,
                drift_share=drift_share,
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
    display_names = _stat_tests()
    columns = {}
    for column, metric in drifts.items():
        result = context.get_metric_result(metric)
        resolved = context.get_metric(metric.metric_id).to_metric_config().params
        columns[column] = ColumnDrift(
            score=float(result.value),
            method=display_names.get(str(resolved["method"]), str(resolved["method"])),
            threshold=float(resolved["threshold"]),
            detected=any(test.status.value == "FAIL" for test in result.tests),
        )
    return columns, snapshot.get_html_str(as_iframe=False)
