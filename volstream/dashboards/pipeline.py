"""The Pipeline dashboard: ticks in and out, latency, stages, the canary, lag per partition,
GPU."""

from __future__ import annotations

from typing import Final

from volstream.dashboards.panels import (
    RATE,
    dashboard,
    label_variable,
    quantile,
    quantiles,
    rate,
    red_from,
    stat,
    state_timeline,
    target,
    timeseries,
)

CONSUMER: Final = 'instance=~"$instance"'

LAG_STATES: Final = {0: ("ok", "green"), 1: ("warning", "yellow"), 2: ("stalled", "orange"),
                     3: ("stopped", "red")}  # fmt: skip
PARTITION: Final = "{{topic}}/{{partition}}"


def pipeline() -> str:
    """Ticks in and out, latency, stage times, batches, lag per partition, dead letters, GPU."""
    e2e = "volstream_consumer_end_to_end_latency_seconds"
    stage = "volstream_consumer_batch_stage_seconds"
    working = CONSUMER + ', stage!="poll"'
    sections = {
        "Overview": [
            stat("Ticks in", "Ticks the broker acknowledged to the producer.",
                 rate("volstream_producer_ticks_total"), "suffix: ticks/s"),
            stat("Predictions out", "Predictions the broker acknowledged to the consumers.",
                 rate("volstream_consumer_predictions_total", CONSUMER), "suffix: /s"),
            stat("Dead-lettered", "Ticks sent to the dead-letter topic (any reason).",
                 rate("volstream_consumer_rejected_total", CONSUMER), "suffix: /s",
                 thresholds=(("green", None), ("yellow", 0.001), ("red", 1))),
            stat("Committed lag", "High watermark minus committed offset, summed over partitions.",
                 f"sum(volstream_consumer_lag_records{{{CONSUMER}}})", "short",
                 thresholds=red_from(10_000)),
            stat("Largest time lag", "The freshness SLI: now minus the event time of the oldest "
                 "unprocessed tick, worst partition. The SLO wants it under 5 s.",
                 f"max(volstream_consumer_lag_seconds{{{CONSUMER}}})", "s",
                 thresholds=red_from(5)),
            stat("End-to-end p99", "Event time to the prediction's acknowledgement, 99th "
                 "percentile over the rate interval.",
                 quantile(e2e, CONSUMER, 0.99), "s", thresholds=red_from(0.1)),
            stat("Consumers up", "Consumer processes Prometheus scrapes successfully.",
                 'sum(up{job="consumer"})', thresholds=(("red", None), ("green", 1))),
            stat("Partitions owned", "Partitions assigned to the selected consumers.",
                 f"sum(volstream_consumer_assigned_partitions{{{CONSUMER}}})"),
            stat("Worst lag health", "Burrow-style state of the worst partition "
                 "(docs/metrics.md#lag-health).",
                 f"max(volstream_consumer_lag_health{{{CONSUMER}}})", mappings=LAG_STATES),
            stat("Catch-up time", "Committed lag divided by the processing rate, worst consumer.",
                 f"max(instance:volstream_consumer_catch_up_seconds{{{CONSUMER}}})", "s",
                 thresholds=red_from(60)),
            stat("Canary round trip p99", "A marker's way from the canary through the broker, "
                 "the consumer's decode, inference and publish, and back (docs/canary.md).",
                 quantile("volstream_canary_roundtrip_seconds", "", 0.99), "s",
                 thresholds=red_from(5)),
            stat("Alerts firing", "Prometheus alerts firing now (SLO and pipeline).",
                 'count(ALERTS{alertstate="firing"}) or vector(0)',
                 thresholds=red_from(1)),
            stat("Model", "The model the consumers serve: version, variant, backend.",
                 f"volstream_model_info{{{CONSUMER}}}", thresholds=(("blue", None),),
                 legend="{{version}} {{variant}} {{backend}}"),
        ],
        "Throughput and latency": [
            timeseries("Ticks in and out", "Produced, consumed, predicted, dead-lettered.", [
                target(rate("volstream_producer_ticks_total"), "produced"),
                target(rate("volstream_consumer_consumed_total", CONSUMER), "consumed"),
                target(rate("volstream_consumer_predictions_total", CONSUMER), "predicted"),
                target(rate("volstream_consumer_rejected_total", CONSUMER), "dead-lettered"),
            ], "suffix: ticks/s"),
            timeseries("End-to-end latency", "Event time of a tick to the broker's acknowledgement "
                       "of its prediction.", quantiles(e2e, CONSUMER), "s",
                       lines=red_from(0.1)),
            timeseries("Mean time per batch by stage", "Mean seconds a batch spends in each stage "
                       "(poll, which includes waiting for ticks, left out).", [
                target(f"{rate(f'{stage}_sum', working, 'stage')} / "
                       f"{rate(f'{stage}_count', working, 'stage')}", "{{stage}}"),
            ], "s", stack=True),
            timeseries("Batch size", "Ticks per micro-batch: batches grow under load.",
                       quantiles("volstream_consumer_batch_ticks", CONSUMER), "short"),
            timeseries("Dead letters by reason", "Ticks sent to the dead-letter topic, by the "
                       "reason in their headers (docs/contracts.md).", [
                target(rate("volstream_consumer_rejected_total", CONSUMER, "reason"), "{{reason}}"),
            ], "suffix: /s"),
            timeseries("Flagged ticks by reason", "Valid ticks a data-quality check flagged, "
                       "still predicted: redelivered, late, out of order, locked books, price "
                       "jumps (docs/metrics.md#data-quality).", [
                target(rate("volstream_consumer_flagged_ticks_total", CONSUMER, "reason"),
                       "{{reason}}"),
            ], "suffix: /s"),
            timeseries("Stale symbols", "Symbols silent for a minute of their partition's event "
                       "time while the others tick; the consumer's log names them.", [
                target(f"volstream_consumer_stale_symbols{{{CONSUMER}}}",
                       "partition {{partition}}"),
            ], "short"),
            timeseries("Canary round trip by partition", "99th percentile of a marker's round "
                       "trip, by the ticks partition it crossed; late markers count once back.",
                       quantiles("volstream_canary_roundtrip_seconds", "", "partition", (0.99,)),
                       "s"),
            timeseries("Canary markers", "Markers sent, back within the deadline and lost, and "
                       "the oldest still awaited (it climbs while markers are late).", [
                target(rate("volstream_canary_markers_sent_total"), "sent /s"),
                target(rate("volstream_canary_markers_received_total"), "back /s"),
                target(rate("volstream_canary_markers_lost_total", "", "partition"),
                       "lost /s, partition {{partition}}"),
                target("max(volstream_canary_oldest_pending_seconds)", "oldest awaited (s)"),
            ]),
            timeseries("Commits", "Offset commits acknowledged and failed.", [
                target(rate("volstream_consumer_commits_total", CONSUMER), "commits"),
                target(rate("volstream_consumer_commit_failures_total", CONSUMER), "failures"),
            ], "suffix: /s"),
        ],
        "Lag per partition": [
            timeseries("Committed lag (records)", "High watermark minus the group's committed "
                       "offset; never negative.",
                       [target(f"volstream_consumer_lag_records{{{CONSUMER}}}", PARTITION)]),
            timeseries("Time lag", "Now minus the event time of the next unprocessed tick; 0 when "
                       "caught up.", [target(f"volstream_consumer_lag_seconds{{{CONSUMER}}}",
                                             PARTITION)], "s", lines=red_from(5)),
            timeseries("Position lag (records)", "High watermark minus what this process read.", [
                target(f"volstream_consumer_position_lag_records{{{CONSUMER}}}", PARTITION),
            ]),
            state_timeline("Lag health", "ok, warning (lag grows while committing), stalled "
                           "(no commit while lag > 0), stopped (no commit for too long).",
                           f"volstream_consumer_lag_health{{{CONSUMER}}}", PARTITION, LAG_STATES),
            timeseries("Since last progress and last event", "Seconds since the committed offset "
                       "last moved, and since the event time of the last tick: a stuck consumer "
                       "has the first grow; a silent source has both grow.", [
                target(f"time() - volstream_consumer_last_progress_time_seconds{{{CONSUMER}}}",
                       f"progress {PARTITION}"),
                target(f"time() - volstream_consumer_last_event_time_seconds{{{CONSUMER}}}",
                       f"event {PARTITION}"),
            ], "s"),
            timeseries("Processing rate and partitions owned", "Ticks settled per second, and "
                       "partitions owned, per consumer; rebalances.", [
                target(f"instance:volstream_consumer_processed_ticks:rate1m{{{CONSUMER}}}",
                       "rate {{instance}}"),
                target(f"volstream_consumer_assigned_partitions{{{CONSUMER}}}",
                       "partitions {{instance}}"),
                target(f"sum by (kind) (increase(volstream_consumer_rebalances_total{{{CONSUMER}}}"
                       f"[{RATE}]))", "rebalances ({{kind}})"),
            ]),
        ],
        "Inference and GPU": [
            timeseries("Inference time by backend", "99th percentile of one inference call, by "
                       "backend and batch class.",
                       quantiles("volstream_consumer_inference_seconds", CONSUMER,
                                 "backend, batch", (0.99,)), "s"),
            timeseries("Producer source lag", "Wall time minus the event time of the newest tick "
                       "sent (near 0 for a live source).",
                       [target("volstream_producer_source_lag_seconds", "source lag")], "s"),
            timeseries("GPU utilisation", "Share of time a kernel ran (NVML); empty without a GPU.",
                       [target("volstream_gpu_utilization_ratio", "{{job}} gpu {{gpu}}")],
                       "percentunit"),
            timeseries("GPU memory, temperature and power", "NVML readings; empty without a GPU.", [
                target("volstream_gpu_memory_used_bytes / volstream_gpu_memory_total_bytes",
                       "memory used {{job}} gpu {{gpu}}"),
                target("volstream_gpu_temperature_celsius / 100", "temperature/100 °C gpu {{gpu}}"),
                target("volstream_gpu_power_watts / 1000", "power kW gpu {{gpu}}"),
            ], "percentunit"),
        ],
    }  # fmt: skip
    consumers = label_variable("instance", "consumer", "volstream_consumer_assigned_partitions")
    return dashboard("volstream-pipeline", "volstream / Pipeline", sections, [consumers])
