"""The Model & drift dashboard: predictions by version, live quality, drift per feature, the API."""

from __future__ import annotations

from typing import Final

from volstream.dashboards.panels import (
    RATE,
    bar_gauge,
    dashboard,
    heatmap,
    quantiles,
    rate,
    red_from,
    stat,
    state_timeline,
    table,
    target,
    timeseries,
)
from volstream.dashboards.slo import PREDICT_LATENCY, REQUESTS

PROBABILITY: Final = "volstream_consumer_prediction_probability"
MODEL: Final = "{{role}} {{model_version}} {{variant}}"
SERVED: Final = 'role="served",window="1h"'


def model() -> str:
    """Predictions by version, live quality, drift per feature, API latency, errors."""
    sections = {
        "Predictions": [
            timeseries("Predictions by model version", "Predictions published by the stream "
                       "consumers and scored by the API, by model version.", [
                target(rate(f"{PROBABILITY}_count", by="model_version"),
                       "stream {{model_version}}"),
                target(rate("volstream_api_predictions_total", by="model_version, variant"),
                       "API {{model_version}} {{variant}}"),
            ], "suffix: /s"),
            heatmap("Distribution of stream predictions", "Predicted spike probabilities "
                    "published per interval, buckets of 0.05.",
                    f"sum by (le) (increase({PROBABILITY}_bucket[{RATE}]))"),
            timeseries("Probability quantiles by version", "Median and 90th percentile of the "
                       "predicted probability, stream and API.", [
                *quantiles(PROBABILITY, "", "model_version", (0.5, 0.9)),
                *quantiles("volstream_api_prediction_probability", "", "model_version", (0.5,)),
            ], "percentunit"),
            table("Models in service", "The model each consumer and the API serve.",
                  "volstream_model_info"),
        ],
        "Live quality (outcomes 60 s after each prediction)": [
            timeseries("Live PR-AUC by model", "PR-AUC over the last hour of outcomes, for the "
                       "served model and those in shadow (its baseline, a challenger); dashed "
                       "levels are each version's figure on its training test part.", [
                target('volstream_quality_pr_auc{window="1h"}', MODEL),
                target("volstream_quality_test_pr_auc", "test {{model_version}} {{variant}}"),
            ], "none"),
            timeseries("Model minus baseline, live", "The served model's PR-AUC minus its "
                       "baseline's on the same ticks; below 0 the baseline does better.",
                       [target("model:quality_pr_auc_minus_baseline", "{{model_version}} "
                               "{{window}}")], "none", lines=(("red", None), ("green", 0.0))),
            timeseries("Brier score, live and test", "Mean squared error of the probabilities "
                       "over the last hour; ModelQualityDrop fires at "
                       "VOLSTREAM_EVALUATE_BRIER_FACTOR times the test figure.", [
                target('volstream_quality_brier{window="1h"}', MODEL),
                target("volstream_quality_test_brier", "test {{model_version}} {{variant}}"),
            ], "none"),
            timeseries("Precision, recall, F1 of the served model", "At the model's threshold, "
                       "over the last hour.", [
                target(f"volstream_quality_precision{{{SERVED}}}", "precision {{model_version}}"),
                target(f"volstream_quality_recall{{{SERVED}}}", "recall {{model_version}}"),
                target(f"volstream_quality_f1{{{SERVED}}}", "F1 {{model_version}}"),
            ], "percentunit"),
            bar_gauge("Calibration: observed spike share by predicted bin", "Served model, last "
                      "hour. Calibrated, a bin's observed share lies within the bin (e.g. 0.1 "
                      "to 0.2 for bin 0.2).", f"volstream_quality_calibration_observed{{{SERVED}}}",
                      "bin ≤ {{bin}}", "percentunit"),
            bar_gauge("Calibration: mean predicted by bin", "The mean probability the served "
                      "model gave in each bin, to read beside the observed share.",
                      f"volstream_quality_calibration_predicted{{{SERVED}}}", "bin ≤ {{bin}}",
                      "percentunit"),
            bar_gauge("Champion against challenger, last 15 minutes", "PR-AUC of every model "
                      "scored on the stream over the last 15 minutes: the served one and those "
                      "in shadow (`volstream models compare` prints every figure).",
                      'volstream_quality_pr_auc{window="15m"}', MODEL, "none"),
            timeseries("Spike base rate and outcomes", "Share of spikes among the last hour's "
                       "outcomes (about 0.1 in the training regime), and outcomes per second.", [
                target(f"volstream_quality_base_rate{{{SERVED}}}", "base rate {{model_version}}"),
                target(rate("volstream_outcomes_total", 'role="served"'), "outcomes/s"),
            ]),
        ],
        "Drift": [
            stat("Drifted features", "Share of the model features whose drift test failed in the "
                 "last pass.", "volstream_drift_drifted_features_share", "percentunit",
                 thresholds=(("green", None), ("yellow", 0.25), ("red", 0.5))),
            stat("Dataset drift", "Whether the drifted share reached VOLSTREAM_DRIFT_DRIFT_SHARE.",
                 "volstream_drift_dataset_drift",
                 mappings={0: ("no drift", "green"), 1: ("DRIFT", "red")}),
            stat("Prediction drift score", "Drift score of the predicted probability.",
                 "volstream_drift_prediction_score", decimals=3),
            stat("Last drift pass", "When the last successful pass finished (no data before the "
                 "first).", "(volstream_drift_last_success_timestamp_seconds > 0) * 1000",
                 "dateTimeFromNow"),
            stat("Rows in the current window", "Rows the last pass compared with the reference "
                 "(a pass with too few is skipped).", "volstream_drift_current_rows"),
            stat("Failed passes", "Drift passes that failed since the job started.",
                 "volstream_drift_run_failures_total", thresholds=red_from(1)),
            bar_gauge("Drift score per feature", "The last pass's score of each feature "
                      "(docs/drift.md: the method and its threshold).",
                      "volstream_drift_feature_score", "{{feature}}", "none"),
            state_timeline("Features drifted", "Whether each feature's drift test failed, pass by "
                           "pass.", "volstream_drift_feature_detected", "{{feature}}",
                           {0: ("stable", "green"), 1: ("drifted", "red")}),
            timeseries("Drift scores over time", "Score of each feature and of the prediction.", [
                target("volstream_drift_feature_score", "{{feature}}"),
                target("volstream_drift_prediction_score", "prediction"),
            ]),
            timeseries("Drift pass duration", "Seconds one pass took, reading the window "
                       "included.", [target("volstream_drift_run_duration_seconds", "duration")],
                       "s"),
        ],
        "API": [
            timeseries("API latency by route", "Median and 99th percentile by route template.",
                       quantiles(PREDICT_LATENCY, "", "route", (0.5, 0.99)), "s",
                       lines=red_from(0.1)),
            timeseries("API requests by status", "Answers per second by HTTP status.",
                       [target(rate(REQUESTS, by="status"), "{{status}}")], "reqps"),
            timeseries("API errors by kind", "Error answers by route and kind "
                       "(docs/api.md#errors).",
                       [target(rate("volstream_api_errors_total", by="route, kind"),
                               "{{route}} {{kind}}")], "reqps"),
            timeseries("API inference time by backend", "99th percentile of one inference call.",
                       quantiles("volstream_api_inference_seconds", "", "backend, batch", (0.99,)),
                       "s"),
        ],
    }  # fmt: skip
    return dashboard("volstream-model", "volstream / Model & drift", sections)
