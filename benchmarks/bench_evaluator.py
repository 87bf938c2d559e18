"""Does the evaluator keep up with the consumer, with its models in shadow?

On the embedded broker, 1,000,000 pre-produced synthetic ticks (100 symbols,
6 partitions, the default model). Each run, on fresh predictions and outcomes
topics:

1. the consumer (``--stop-at-end``): decode, features, LightGBM, publish, commit;
2. ``volstream evaluate --stop-at-end`` on its predictions, as it runs by
   default: outcomes published, the served model and its baseline (scored in
   shadow) counted in the quality windows, offsets committed;
3. the same with a challenger in shadow (a second version: LightGBM scores
   every prediction's features once more), on a fresh outcomes topic.

Rates are predictions over busy time, from the first batch to the last; the
ratios are against the consumer of the same run.

    .venv/bin/python -m benchmarks.bench_evaluator [--ticks 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import threading
import uuid
from pathlib import Path

from prometheus_client import CollectorRegistry

from benchmarks.common import median_of, rates_table
from volstream.consumer.main import build as build_consumer
from volstream.evaluator.main import build as build_evaluator
from volstream.kafka.admin import ensure_topics
from volstream.kafka.embedded import EmbeddedBroker, free_port
from volstream.model.registry import ModelRegistry
from volstream.model.training import train
from volstream.producer.main import run as produce
from volstream.settings import (
    BrokerSettings,
    ConsumerSettings,
    EvaluateSettings,
    KafkaSettings,
    ModelSettings,
    ProducerSettings,
    TrainSettings,
)
from volstream.testing import fresh_topics


def with_new_outputs(kafka: KafkaSettings) -> KafkaSettings:
    """The same ticks, fresh predictions and outcomes topics."""
    suffix = uuid.uuid4().hex[:8]
    fresh = kafka.model_copy(update={"predictions_topic": f"bench-predictions-{suffix}",
                                     "outcomes_topic": f"bench-outcomes-{suffix}"})  # fmt: skip
    ensure_topics(fresh)
    return fresh


def consumer_rate(kafka: KafkaSettings, model: ModelSettings) -> float:
    settings = ConsumerSettings(group=f"bench-{uuid.uuid4().hex[:6]}", stop_at_end=True,
                                metrics_port=0)  # fmt: skip
    worker = build_consumer(kafka, settings, model, CollectorRegistry())
    assert worker is not None
    try:
        worker.run(threading.Event())
    finally:
        worker.close()
    return worker.consumed / worker.busy_seconds


def evaluator_rate(kafka: KafkaSettings, model: ModelSettings) -> float:
    settings = EvaluateSettings(group=f"bench-{uuid.uuid4().hex[:6]}", stop_at_end=True,
                                metrics_port=0)  # fmt: skip
    evaluator = build_evaluator(kafka, settings, model, CollectorRegistry())
    try:
        evaluator.run(threading.Event())
    finally:
        evaluator.close()
    return evaluator.read / evaluator.busy_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    registry_dir = Path(tempfile.mkdtemp(prefix="bench-models-"))
    train(TrainSettings(), ModelSettings(registry=registry_dir))
    challenger = train(TrainSettings(seed=8, promote=False), ModelSettings(registry=registry_dir))
    model = ModelSettings(registry=registry_dir)
    results: dict[str, list[float]] = {"consumer": [], "evaluator": [], "challenger": []}

    def one_run() -> float:
        outputs = with_new_outputs(kafka)
        results["consumer"].append(consumer_rate(outputs, model))
        results["evaluator"].append(evaluator_rate(outputs, model))
        ModelRegistry(registry_dir).set_shadow(challenger.name)
        fresh = outputs.model_copy(update={"outcomes_topic": f"bench-o-{uuid.uuid4().hex[:8]}"})
        ensure_topics(fresh)
        results["challenger"].append(evaluator_rate(fresh, model))
        ModelRegistry(registry_dir).set_shadow(None)
        return results["consumer"][-1]

    with EmbeddedBroker(BrokerSettings(port=free_port())) as broker:
        kafka = fresh_topics(broker.bootstrap, "bench")
        settings = ProducerSettings(count=args.ticks, rate=0, symbols="100", metrics_port=0,
                                    progress=False)  # fmt: skip
        produce(kafka, settings, threading.Event())
        consumer, _ = median_of(args.runs, one_run)
    print(f"{args.ticks:,} ticks, 100 symbols, 6 partitions, embedded Tansu on this machine\n")
    rows = [
        ("`volstream consume --stop-at-end`", consumer, results["consumer"]),
        ("`volstream evaluate` on its predictions (baseline in shadow)",
         *_median(results["evaluator"])),
        ("... with a challenger in shadow too", *_median(results["challenger"])),
    ]  # fmt: skip
    print(rates_table(rows, consumer, "the consumer"))


def _median(values: list[float]) -> tuple[float, list[float]]:
    return sorted(values)[len(values) // 2], values


if __name__ == "__main__":
    main()
