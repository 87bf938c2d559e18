"""The drift job's Prometheus gauges (see docs/metrics.md)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from volstream.drift.check import ColumnDrift, DriftResult

__all__ = ["DriftMetrics", "build_drift_metrics"]


@dataclass(frozen=True)
class DriftMetrics:
    feature_score: Gauge
    feature_threshold: Gauge
    feature_exceedance: Gauge
    feature_detected: Gauge
    drifted_share: Gauge
    dataset_drift: Gauge
    prediction_score: Gauge
    prediction_threshold: Gauge
    prediction_exceedance: Gauge
    prediction_detected: Gauge
    current_rows: Gauge
    last_success: Gauge
    last_skipped: Gauge
    run_seconds: Gauge
    failures: Counter

    def publish(self, result: DriftResult, finished_at: float) -> None:
        """Show a successful pass."""
        for name, column in result.features.items():
            self.feature_score.labels(name).set(column.score)
            self.feature_threshold.labels(name).set(column.threshold)
            self.feature_exceedance.labels(name).set(_exceedance(column))
            self.feature_detected.labels(name).set(int(column.detected))
        self.drifted_share.set(result.drifted_share)
        self.dataset_drift.set(int(result.dataset_drift))
        self.prediction_score.set(result.prediction.score)
        self.prediction_threshold.set(result.prediction.threshold)
        self.prediction_exceedance.set(_exceedance(result.prediction))
        self.prediction_detected.set(int(result.prediction.detected))
        self.current_rows.set(result.current_rows)
        self.last_success.set(finished_at)
        self.last_skipped.set(0)

    def skipped(self, rows: int) -> None:
        """Show a pass skipped for too little data; the last verdicts stay as they were."""
        self.current_rows.set(rows)
        self.last_skipped.set(1)


def _exceedance(column: ColumnDrift) -> float:
    return float("nan") if column.exceedance is None else column.exceedance


def build_drift_metrics(registry: CollectorRegistry) -> DriftMetrics:
    """Create the drift gauges on ``registry``."""
    metrics = DriftMetrics(
        feature_score=Gauge("volstream_drift_feature_score",
                            "Evidently drift score of a feature (see the method in the summary).",
                            ["feature"], registry=registry),
        feature_threshold=Gauge("volstream_drift_feature_threshold",
                                "The score above which the feature drifts (calibrated, or fixed).",
                                ["feature"], registry=registry),
        feature_exceedance=Gauge("volstream_drift_feature_exceedance",
                                 "Calibrated probability that a normal window scores this high "
                                 "(NaN when uncalibrated).", ["feature"], registry=registry),
        feature_detected=Gauge("volstream_drift_feature_detected",
                               "1 when the feature drifted in the last pass.", ["feature"],
                               registry=registry),
        drifted_share=Gauge("volstream_drift_drifted_features_share",
                            "Share of the model features that drifted.", registry=registry),
        dataset_drift=Gauge("volstream_drift_dataset_drift",
                            "1 when at least the drift share of features drifted.",
                            registry=registry),
        prediction_score=Gauge("volstream_drift_prediction_score",
                               "Drift score of the predicted probability.", registry=registry),
        prediction_threshold=Gauge("volstream_drift_prediction_threshold",
                                   "The score above which the prediction drifts.",
                                   registry=registry),
        prediction_exceedance=Gauge("volstream_drift_prediction_exceedance",
                                    "Calibrated probability that a normal window scores this "
                                    "high (NaN when uncalibrated).", registry=registry),
        prediction_detected=Gauge("volstream_drift_prediction_detected",
                                  "1 when the predicted probability drifted.", registry=registry),
        current_rows=Gauge("volstream_drift_current_rows",
                           "Rows in the last pass's current window.", registry=registry),
        last_success=Gauge("volstream_drift_last_success_timestamp_seconds",
                           "When the last pass finished, Unix seconds.", registry=registry),
        last_skipped=Gauge("volstream_drift_last_run_skipped",
                           "1 when the last pass was skipped for too few rows.",
                           registry=registry),
        run_seconds=Gauge("volstream_drift_run_duration_seconds",
                          "Duration of the last pass, reading included.", registry=registry),
        failures=Counter("volstream_drift_run_failures", "Passes that failed.",
                         registry=registry),
    )  # fmt: skip
    return metrics  # no feature series before the first pass: a 0 would read as a verdict
