"""One drift pass: Evidently's data drift of every model feature and of the predicted probability.

The stat test per column is Evidently's choice (for more than 1,000 rows of a
numerical column, the normed Wasserstein distance with threshold 0.1) unless
``VOLSTREAM_DRIFT_METHOD``/``_THRESHOLD`` set one. A column has drifted when
Evidently's own test for it fails; the dataset has drifted when at least
``drift_share`` of the features have (the prediction is judged apart).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.core.report import Snapshot
from evidently.legacy.calculations.stattests.registry import _registered_stat_tests
from evidently.metrics import ValueDrift
from evidently.presets import DataDriftPreset

from volstream.drift.window import Window
from volstream.errors import ConfigError, ModelError
from volstream.features import FEATURE_NAMES
from volstream.model.registry import ModelVersion
from volstream.settings import DriftSettings

__all__ = ["ColumnDrift", "DriftResult", "check_method", "load_reference", "run_check"]

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
    """What a pass found; ``snapshot`` renders the HTML report."""

    features: dict[str, ColumnDrift]
    prediction: ColumnDrift
    drifted_share: float
    dataset_drift: bool
    current_rows: int
    reference_rows: int
    model_version: str
    seconds: float
    snapshot: Snapshot


def check_method(method: str | None) -> None:
    """A stat test Evidently does not know stops start-up with one line."""
    if method is not None and method not in _registered_stat_tests:
        known = ", ".join(sorted(_registered_stat_tests))
        msg = f"unknown drift method {method!r} (VOLSTREAM_DRIFT_METHOD); known: {known}"
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
    """Run Evidently on ``window`` against ``reference``."""
    started = time.perf_counter()
    current = pd.DataFrame(window.features, columns=list(FEATURE_NAMES))
    current[PREDICTION] = window.probability
    definition = DataDefinition(numerical_columns=COLUMNS)
    report = Report(
        [
            DataDriftPreset(
                columns=list(FEATURE_NAMES),
                method=settings.method,
                threshold=settings.threshold,
                drift_share=settings.drift_share,
            ),
            ValueDrift(column=PREDICTION, method=settings.method, threshold=settings.threshold),
        ],  # fmt: skip
        include_tests=True,
    )
    snapshot = report.run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    columns = _column_drifts(snapshot.dict())
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
        snapshot=snapshot,
    )


def _column_drifts(result: dict[str, Any]) -> dict[str, ColumnDrift]:
    """Score, method and threshold from each ValueDrift metric; the verdict from its test."""
    verdicts = {
        test["metric_config"]["params"]["column"]: test["status"] == "FAIL"
        for test in result["tests"]
        if test["metric_config"]["params"].get("type") == "evidently:metric_v2:ValueDrift"
    }
    drifts = {}
    for metric in result["metrics"]:
        config = metric["config"]
        if config.get("type") == "evidently:metric_v2:ValueDrift":
            column = config["column"]
            drifts[column] = ColumnDrift(
                score=float(metric["value"]),
                method=str(config["method"]),
                threshold=float(config["threshold"]),
                detected=verdicts[column],
            )
    return drifts
