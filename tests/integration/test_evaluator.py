"""Outcomes and live quality on a real broker: exact labels, once each, across a kill -9."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from volstream.evaluator.main import run as evaluate
from volstream.kafka.embedded import free_port
from volstream.model.registry import ModelRegistry
from volstream.model.training import future_volatility, open_history, replay_history
from volstream.outcomes import Outcome, decode_outcome
from volstream.predictions import decode_prediction
from volstream.settings import (
    ConsumerSettings,
    EvaluateSettings,
    KafkaSettings,
    ModelSettings,
    TrainSettings,
)
from volstream.testing import consume_to_end, produce_synthetic, program, read_all, sample, wait_for

pytestmark = pytest.mark.kafka
HORIZON_MS = 60_000


def run_evaluator(
    kafka: KafkaSettings, registry: Path, metrics: CollectorRegistry | None = None
) -> CollectorRegistry:
    """``volstream evaluate --stop-at-end`` in this process; its metrics."""
    metrics = metrics or CollectorRegistry()
    settings = EvaluateSettings(stop_at_end=True, metrics_port=0)
    evaluate(kafka, settings, ModelSettings(registry=registry), threading.Event(), metrics)
    return metrics


def read_outcomes(kafka: KafkaSettings, expected: int) -> list[Outcome]:
    return [decode_outcome(m.value()) for m in read_all(kafka, kafka.outcomes_topic, expected)]


def judged_predictions(kafka: KafkaSettings, count: int) -> set[tuple[int, int]]:
    """(partition, offset) of every prediction whose horizon its partition has passed."""
    by_partition: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for message in read_all(kafka, kafka.predictions_topic, count):
        time_ms = decode_prediction(message.value()).event_time_ms
        by_partition[message.partition()].append((message.offset(), time_ms))
    judged = set()
    for partition, rows in by_partition.items():
        newest = max(t for _, t in rows)
        judged |= {(partition, o) for o, t in rows if t + HORIZON_MS < newest}
    return judged


def test_streamed_outcomes_are_the_training_labels_exactly(
    kafka: KafkaSettings, small_registry: Path
) -> None:
    market = TrainSettings(duration_seconds=600, symbols=10, tick_rate=80, seed=7)
    history = replay_history(market)
    training = future_volatility(history, HORIZON_MS)
    source, batches, _ = open_history(market)
    symbols = [s for _, batch in zip(range(batches or 0), source.batches(), strict=False)
               for s in batch.symbol]  # fmt: skip
    rows_of: dict[str, list[int]] = defaultdict(list)
    for row, symbol in enumerate(symbols):
        rows_of[symbol].append(row)

    count = 30_000  # the first 375 s of the same market, through producer and consumer
    produce_synthetic(kafka, count, symbols="10", rate=80, speed=1000, seed=7)
    consume_to_end(kafka, small_registry, group="labels")
    run_evaluator(kafka, small_registry)
    expected = judged_predictions(kafka, count)
    outcomes = read_outcomes(kafka, len(expected))

    assert {(o.prediction_partition, o.prediction_offset) for o in outcomes} == expected
    level = ModelRegistry(small_registry).current().metadata["label"]["level"]
    by_symbol: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_symbol[outcome.symbol].append(outcome)
    compared = 0
    for symbol, streamed in by_symbol.items():
        streamed.sort(key=lambda o: o.source_offset)  # a symbol's ticks, in order
        for outcome, row in zip(streamed, rows_of[symbol], strict=False):
            assert outcome.realized_volatility == training[row]  # bit for bit
            assert outcome.served.label == bool(training[row] > level)
            compared += 1
    assert compared == len(outcomes) > 20_000


def test_a_challenger_in_shadow_is_judged_under_its_own_version(
    kafka: KafkaSettings, small_registry: Path, tmp_path: Path
) -> None:
    registry = tmp_path / "models"
    shutil.copytree(small_registry, registry)
    champion = ModelRegistry(registry).current().name
    shutil.copytree(registry / champion, registry / "v-challenger")
    metadata = registry / "v-challenger" / "model.json"
    metadata.write_text(metadata.read_text().replace(champion, "v-challenger"))
    ModelRegistry(registry).set_shadow("v-challenger")
    count = 20_000
    produce_synthetic(kafka, count, symbols="10", rate=80, speed=1000, seed=7)
    consume_to_end(kafka, registry, group="challenger")
    metrics = run_evaluator(kafka, registry)
    outcomes = read_outcomes(kafka, len(judged_predictions(kafka, count)))
    roles = {(m.model_version, m.model_variant, m.role) for o in outcomes for m in o.models}
    assert roles == {(champion, "model", "served"), (champion, "baseline", "shadow"),
                     ("v-challenger", "model", "shadow")}  # fmt: skip
    for outcome in outcomes:  # the same trees and level: the same probability and label
        served, _, challenger = outcome.models
        assert (challenger.probability, challenger.label) == (served.probability, served.label)
    labels = {"variant": "model", "window": "1h"}
    judged = {version: metrics.get_sample_value("volstream_quality_outcomes",
                                                {**labels, "model_version": version, "role": role})
              for version, role in ((champion, "served"), ("v-challenger", "shadow"))}  # fmt: skip
    assert judged[champion] == judged["v-challenger"] == len(outcomes)


def test_a_served_baseline_is_judged_beside_its_lightgbm_model(
    kafka: KafkaSettings, small_registry: Path
) -> None:
    import lightgbm as lgb
    import msgspec

    from volstream.consumer.main import run as consume_with

    count = 12_000
    produce_synthetic(kafka, count, symbols="10", rate=80, speed=1000, seed=7)
    model = ModelSettings(registry=small_registry, variant="baseline")
    settings = ConsumerSettings(metrics_port=0, stop_at_end=True, group="baseline-served")
    consume_with(kafka, settings, model, threading.Event())
    run_evaluator(kafka, small_registry)
    outcomes = read_outcomes(kafka, len(judged_predictions(kafka, count)))
    features = {
        (m.partition(), m.offset()): msgspec.structs.astuple(decode_prediction(m.value()).features)
        for m in read_all(kafka, kafka.predictions_topic, count)
    }  # fmt: skip
    version = ModelRegistry(small_registry).current()
    booster = lgb.Booster(model_file=str(version.model_file))
    rows = [features[(o.prediction_partition, o.prediction_offset)] for o in outcomes]
    expected = booster.predict(np.array(rows))
    assert [[(m.model_variant, m.role) for m in o.models] for o in outcomes[:1]] == [
        [("baseline", "served"), ("model", "shadow")]
    ]
    assert [o.models[1].probability for o in outcomes] == pytest.approx(expected, abs=1e-12)


def test_a_restart_after_kill_9_loses_no_outcome_and_counts_none_twice(
    kafka: KafkaSettings, small_registry: Path
) -> None:
    count = 60_000
    produce_synthetic(kafka, count, symbols="10", rate=80, speed=1000, seed=7)
    consume_to_end(kafka, small_registry, group="kill-9")
    expected = judged_predictions(kafka, count)

    port = free_port()
    env = {
        **os.environ,
        "VOLSTREAM_KAFKA_PREDICTIONS_TOPIC": kafka.predictions_topic,
        "VOLSTREAM_KAFKA_OUTCOMES_TOPIC": kafka.outcomes_topic,
        "VOLSTREAM_EVALUATE_BATCH_SIZE": "200",
    }  # many small commits: killed between two
    process = subprocess.Popen(
        [sys.executable, "-m", "volstream", "evaluate", "--bootstrap", kafka.bootstrap,
         "--registry", str(small_registry), "--metrics-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip

    def published() -> float:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as page:
                text = page.read().decode()
        except OSError:
            return 0.0
        return sample(text, "volstream_outcomes_total", role="served") or 0.0

    try:
        wait_for(lambda: published() > 5000, 120, "the first outcomes")
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=10)
    assert published() == 0.0  # it is gone
    before = len(read_all(kafka, kafka.outcomes_topic, 5000, timeout=5))
    assert 5000 <= before < len(expected)  # killed mid-run

    metrics = run_evaluator(kafka, small_registry)
    outcomes = read_outcomes(kafka, len(expected))
    identities = Counter((o.prediction_partition, o.prediction_offset) for o in outcomes)
    assert set(identities) == expected  # none lost
    assert max(identities.values()) == 1  # none published twice
    restored = metrics.get_sample_value(
        "volstream_quality_outcomes",
        {"model_version": ModelRegistry(small_registry).current().name, "variant": "model",
         "role": "served", "window": "1h"},
    )  # fmt: skip
    assert restored == len(expected)  # the windows count each outcome once


STREAM_TICKS = 144_000  # 16 simulated minutes of the default market (150 ticks/s)
RULES = Path(__file__).parent.parent.parent / "docker" / "prometheus" / "rules" / "model.yml"
ALERT_INPUTS = (
    "volstream_quality_pr_auc", "volstream_quality_brier", "volstream_quality_outcomes",
    "volstream_quality_test_pr_auc", "volstream_quality_test_brier",
    "volstream_quality_drop_margin", "volstream_quality_brier_factor",
    "volstream_quality_min_outcomes",
)  # fmt: skip


@pytest.fixture(scope="module")
def default_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained with the default settings (2 h of 30 symbols, seed 7)."""
    from volstream.model.training import train

    registry = tmp_path_factory.mktemp("default-models")
    train(TrainSettings(), ModelSettings(registry=registry))
    return registry


def live_quality(
    kafka: KafkaSettings, registry: Path, volatility_scale: float
) -> tuple[CollectorRegistry, str]:
    """Another path of the training market (path seed 1) through the pipeline; the metrics."""
    produce_synthetic(kafka, STREAM_TICKS, symbols="30", rate=150, speed=1000, seed=7,
                      path_seed=1, volatility_scale=volatility_scale)  # fmt: skip
    consume_to_end(kafka, registry, group="quality")
    return run_evaluator(kafka, registry), ModelRegistry(registry).current().name


def quality(metrics: CollectorRegistry, name: str, version: str, window: str = "1h",
            variant: str = "model", role: str = "served") -> float:  # fmt: skip
    labels = {"model_version": version, "variant": variant, "role": role, "window": window}
    value = metrics.get_sample_value(f"volstream_quality_{name}", labels)
    assert value is not None, (name, labels)
    return value


def model_quality_drop(metrics: CollectorRegistry, version: str, tmp_path: Path) -> bool:
    """Whether ModelQualityDrop fires, by promtool, on this run's series held for 40 minutes."""
    import yaml

    series = []
    for family in metrics.collect():
        for found in family.samples:
            if found.name in ALERT_INPUTS:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(found.labels.items()))
                series.append({"series": f"{found.name}{{{labels}}}",
                               "values": f"{found.value!r}x60"})  # fmt: skip
    expected = {
        "exp_labels": {"severity": "ticket", "model_version": version, "variant": "model"},
        "exp_annotations": {
            "summary": f"Live quality of {version} (model) fell: PR-AUC below its test figure "
            "or the baseline, or Brier score up, for 30 minutes",
            "runbook": "docs/runbook.md#modelqualitydrop",
        },
    }
    outcomes = {}
    for fires in (True, False):
        test = {
            "rule_files": [str(RULES)],
            "evaluation_interval": "1m",
            "tests": [{
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [{"eval_time": "40m", "alertname": "ModelQualityDrop",
                                     "exp_alerts": [expected] if fires else []}],
            }],
        }  # fmt: skip
        path = tmp_path / f"quality-{fires}.test.yml"
        path.write_text(yaml.safe_dump(test))
        result = subprocess.run([program("promtool"), "test", "rules", str(path)],
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        outcomes[fires] = result.returncode == 0
    assert outcomes[True] != outcomes[False], "promtool agreed with neither answer"
    return outcomes[True]


def test_live_quality_on_the_training_market_matches_the_offline_test(
    kafka: KafkaSettings, default_registry: Path, tmp_path: Path
) -> None:
    metrics, version = live_quality(kafka, default_registry, volatility_scale=1.0)
    offline = ModelRegistry(default_registry).current().metadata["metrics"]["test"]["model"]
    live = quality(metrics, "pr_auc", version, window="15m")
    assert abs(live - offline["pr_auc"]) < 0.05
    assert live > quality(metrics, "pr_auc", version, "15m", variant="baseline", role="shadow")

    outcomes = read_outcomes(kafka, int(quality(metrics, "outcomes", version)))
    newest = max(o.label_time_ms for o in outcomes)
    first_slot = (newest - 15 * 60_000) // 10_000 + 1  # the 15m window, to its 10 s slots
    window = [o for o in outcomes if o.label_time_ms // 10_000 >= first_slot]
    assert len(window) == quality(metrics, "outcomes", version, window="15m")
    from sklearn.metrics import average_precision_score

    labels = [o.served.label for o in window]
    assert live == pytest.approx(
        average_precision_score(labels, [o.served.probability for o in window]), abs=0.002
    )
    assert not model_quality_drop(metrics, version, tmp_path)
    compare_shows_both_models(metrics, version)


def compare_shows_both_models(metrics: CollectorRegistry, version: str) -> None:
    """`volstream models compare` reads the evaluator's /metrics."""
    from volstream.metrics import serve_metrics

    with serve_metrics(metrics, free_port(), "evaluator") as url:
        assert url is not None
        shown = subprocess.run(
            [sys.executable, "-m", "volstream", "models", "compare", "--url", url],
            capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert any("served" in line and version in line and "model" in line for line in lines)
    assert any("shadow" in line and "baseline" in line for line in lines)


def test_a_volatility_regime_change_moves_quality_and_fires_model_quality_drop(
    kafka: KafkaSettings, default_registry: Path, tmp_path: Path
) -> None:
    metrics, version = live_quality(kafka, default_registry, volatility_scale=3.0)
    offline = ModelRegistry(default_registry).current().metadata["metrics"]["test"]["model"]
    assert quality(metrics, "base_rate", version) > 3 * offline["positive_share"]
    assert quality(metrics, "brier", version) > 2 * offline["brier"]  # probabilities now off
    assert model_quality_drop(metrics, version, tmp_path)
