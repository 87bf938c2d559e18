"""The evaluator's Prometheus metrics, built on a registry passed in (see docs/metrics.md).

Counters and the label-delay histogram are updated as outcomes are published.
The quality gauges are computed at each scrape from the sliding windows
(:class:`QualityCollector`), with the versions' test figures and the alert's
settings beside them, so that ``ModelQualityDrop`` needs nothing else.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from volstream.evaluator.quality import QualityWindows, WindowQuality
from volstream.metrics import BatchHistogram
from volstream.settings import EvaluateSettings

__all__ = ["EvaluatorMetrics", "QualityCollector", "build_metrics"]

#: Seconds from a tick's event time to its outcome: the horizon (60 s) and a little more.
LABEL_DELAY_BUCKETS: Final = (
    30.0, 60.0, 61.0, 62.0, 65.0, 70.0, 80.0, 90.0, 120.0, 180.0, 300.0, 600.0, 1800.0, 3600.0,
)  # fmt: skip
MODEL_LABELS: Final = ("model_version", "variant", "role")
QUALITY: Final = {
    "pr_auc": "PR-AUC (average precision) of the window's outcomes.",
    "precision": "Precision at the model's threshold.",
    "recall": "Recall at the model's threshold.",
    "f1": "F1 at the model's threshold.",
    "brier": "Brier score: mean squared error of the probabilities.",
    "base_rate": "Share of the window's outcomes that were spikes.",
    "outcomes": "Outcomes in the window.",
}


@dataclass(frozen=True)
class EvaluatorMetrics:
    """Handles on the evaluator's own metrics."""

    predictions: Counter
    duplicates: Counter
    undecodable: Counter
    unknown_versions: Counter
    outcomes: Counter
    label_delay: BatchHistogram
    pending: Gauge
    last_outcome: Gauge


def build_metrics(registry: CollectorRegistry, settings: EvaluateSettings) -> EvaluatorMetrics:
    """Create the evaluator metrics on ``registry``; the alert's settings as gauges."""
    metrics = EvaluatorMetrics(
        predictions=Counter("volstream_evaluator_predictions", "Predictions read.",
                            registry=registry),
        duplicates=Counter("volstream_evaluator_duplicates",
                           "Predictions of a tick already seen (a consumer's replay), skipped.",
                           registry=registry),
        undecodable=Counter("volstream_evaluator_undecodable",
                            "Records of the predictions topic that are not predictions.",
                            registry=registry),
        unknown_versions=Counter("volstream_evaluator_unknown_versions",
                                 "Scores of a version missing from the registry, not labelled.",
                                 registry=registry),
        outcomes=Counter("volstream_outcomes", "Outcomes published, per model.",
                         list(MODEL_LABELS), registry=registry),
        label_delay=BatchHistogram("volstream_outcome_label_delay_seconds",
                                   "From a tick's event time to its outcome being published.",
                                   LABEL_DELAY_BUCKETS, registry),
        pending=Gauge("volstream_evaluator_pending_predictions",
                      "Predictions read whose horizon has not passed yet.", registry=registry),
        last_outcome=Gauge("volstream_evaluator_last_outcome_timestamp_seconds",
                           "Label time of the newest outcome (event time).", registry=registry),
    )  # fmt: skip
    settings_gauges = {
        "volstream_quality_drop_margin": ("ModelQualityDrop: PR-AUC margin below the test's.",
                                          settings.quality_margin),
        "volstream_quality_brier_factor": ("ModelQualityDrop: Brier score factor over the test's.",
                                           settings.brier_factor),
        "volstream_quality_min_outcomes": ("ModelQualityDrop: outcomes a window needs.",
                                           settings.min_outcomes),
    }  # fmt: skip
    for name, (documentation, value) in settings_gauges.items():
        Gauge(name, documentation, registry=registry).set(value)
    return metrics


TestFigures = Callable[[str, str], dict[str, Any] | None]


class QualityCollector(Collector):
    """The quality gauges, computed from the windows at each scrape."""

    def __init__(
        self,
        windows: QualityWindows,
        lock: threading.Lock,
        test_figures: TestFigures,
        registry: CollectorRegistry,
    ) -> None:
        self._windows = windows
        self._lock = lock
        self._test_figures = test_figures
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            summary = self._windows.summary()
        labels = [*MODEL_LABELS, "window"]
        families = {
            name: GaugeMetricFamily(f"volstream_quality_{name}", text, labels=labels)
            for name, text in QUALITY.items()
        }
        predicted = GaugeMetricFamily(
            "volstream_quality_calibration_predicted",
            "Mean predicted probability of a calibration bin (bin = its upper edge).",
            labels=[*labels, "bin"],
        )
        observed = GaugeMetricFamily(
            "volstream_quality_calibration_observed",
            "Observed spike share of a calibration bin (bin = its upper edge).",
            labels=[*labels, "bin"],
        )
        for quality in summary:
            values = [*quality.key, quality.window]
            for name, family in families.items():
                value = getattr(quality, name)
                if value == value:  # a window without positives has no PR-AUC
                    family.add_metric(values, float(value))
            for point in quality.calibration:
                edge = f"{point.upper:.1f}"
                predicted.add_metric([*values, edge], point.predicted)
                observed.add_metric([*values, edge], point.observed)
        yield from families.values()
        yield predicted
        yield observed
        yield from self._test_gauges(summary)

    def _test_gauges(self, summary: list[WindowQuality]) -> Iterator[Metric]:
        """The test-part figures of every version in the windows, from its model.json."""
        pr_auc = GaugeMetricFamily(
            "volstream_quality_test_pr_auc",
            "PR-AUC of the version on its training test part.",
            labels=["model_version", "variant"],
        )
        brier = GaugeMetricFamily(
            "volstream_quality_test_brier",
            "Brier score of the version on its training test part.",
            labels=["model_version", "variant"],
        )
        for version, variant in sorted({(q.key.version, q.key.variant) for q in summary}):
            figures = self._test_figures(version, variant)
            if figures:
                pr_auc.add_metric([version, variant], float(figures["pr_auc"]))
                brier.add_metric([version, variant], float(figures["brier"]))
        yield pr_auc
        yield brier
