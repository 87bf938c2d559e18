"""Consumer throughput and latency on the embedded broker.

1. Throughput: 1,000,000 pre-produced synthetic ticks (100 symbols, 6 partitions)
   through the real consumer (decode, features, inference, publish, acks, commit)
   with --stop-at-end, a fresh group per run. In the same script and on the same
   ticks: a consume-and-republish loop doing no work (the ceiling on this broker),
   and a one-message-at-a-time consumer doing the same features and model (the
   naive baseline, on the first 20,000 ticks: it is slow).
2. Data quality and canary (--part quality): what they cost. The features stage of
   the consumer, on --quality-ticks synthetic ticks in its batches and 6 partitions,
   with the checks (price jumps at 10 standard deviations, lateness, the counts by
   reason) and a canary marker per partition in every batch taken out, and without
   either, alternating, median of --runs; the difference against the whole pipeline's
   time per tick (a throughput run on the same broker) is the share of throughput
   they cost.
3. Latency: synthetic ticks offered at 10,000 ticks/s by a `volstream produce`
   process while the consumer runs; after a 5 s warm-up, 30 s (--latency-seconds)
   of end-to-end latency (event time to prediction acknowledged) from the
   consumer's histogram, quantiles interpolated within buckets.

    .venv/bin/python -m benchmarks.bench_consumer [--ticks 1000000] [--runs 3]
        [--part all|throughput|quality|latency] [--latency-seconds 30] [--quality-ticks 300000]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
from confluent_kafka import Consumer, Producer, TopicPartition
from prometheus_client import CollectorRegistry

from benchmarks.common import median_of, rates_table
from volstream.consumer.main import build
from volstream.consumer.metrics import STAGES
from volstream.consumer.pipeline import Decoded, compute_features, take_markers
from volstream.consumer.quality import StreamQuality
from volstream.feature_engine import FeatureEngine
from volstream.kafka.clients import PRODUCER_DEFAULTS, PRODUCER_REQUIRED, make_consumer
from volstream.kafka.embedded import EmbeddedBroker, free_port
from volstream.markers import marker_tick
from volstream.metrics import LATENCY_BUCKETS, BatchHistogram, bucket_quantile
from volstream.model.registry import ModelRegistry
from volstream.model.training import train
from volstream.producer.main import run as produce
from volstream.settings import (
    BrokerSettings,
    ConsumerSettings,
    DeviceSettings,
    KafkaSettings,
    ModelSettings,
    ProducerSettings,
    TrainSettings,
)
from volstream.testing import fresh_topics, synthetic_ticks
from volstream.ticks import Tick, TickBatch

BATCH = 10_000


def pipeline_run(
    kafka: KafkaSettings, model: ModelSettings, device: DeviceSettings | None = None
) -> tuple[float, dict[str, float]]:
    registry = CollectorRegistry()
    settings = ConsumerSettings(
        group=f"bench-{uuid.uuid4().hex[:6]}", stop_at_end=True, metrics_port=0
    )
    worker = build(kafka, settings, model, registry, device=device)
    try:
        worker.run(threading.Event())
    finally:
        worker.close()
    stages = {
        s: registry.get_sample_value("volstream_consumer_batch_stage_seconds_sum", {"stage": s})
        or 0.0
        for s in STAGES
    }
    rate = worker.consumed / worker.busy_seconds
    pipeline_run.stages = stages  # type: ignore[attr-defined]
    return rate, stages


def ceiling_run(kafka: KafkaSettings, total: int) -> float:
    consumer = _consumer(kafka)
    producer = Producer(kafka.client_config(PRODUCER_DEFAULTS, **PRODUCER_REQUIRED))
    done, started = 0, None
    while done < total:
        messages = [m for m in consumer.consume(BATCH, timeout=1.0) if m.error() is None]
        if not messages:
            continue
        started = started or time.perf_counter()
        for m in messages:
            producer.produce(
                kafka.predictions_topic, m.value(), m.key(), timestamp=m.timestamp()[1]
            )
        producer.flush(30)
        consumer.commit(asynchronous=True, offsets=_next_offsets(messages))
        done += len(messages)
    seconds = time.perf_counter() - (started or 0)
    consumer.close()
    return done / seconds


def naive_run(kafka: KafkaSettings, model_file: Path, total: int) -> float:
    """One message at a time: parse, features, predict one row, publish, flush, commit."""
    consumer = _consumer(kafka)
    producer = Producer(kafka.client_config(PRODUCER_DEFAULTS, **PRODUCER_REQUIRED))
    booster = lgb.Booster(model_file=str(model_file))
    engines: dict[int, FeatureEngine] = {}
    done, started = 0, None
    while done < total:
        message = consumer.poll(1.0)
        if message is None or message.error() is not None:
            continue
        started = started or time.perf_counter()
        tick = Tick(**json.loads(message.value()))
        features = engines.setdefault(message.partition(), FeatureEngine()).update(
            TickBatch.from_ticks([tick])
        )
        probability = float(booster.predict(features, num_threads=1)[0])
        document = {
            "symbol": tick.symbol,
            "probability": probability,
            "features": features[0].tolist(),
        }
        producer.produce(kafka.predictions_topic, json.dumps(document).encode(), message.key())
        producer.flush(10)
        consumer.commit(message=message, asynchronous=False)
        done += 1
    seconds = time.perf_counter() - (started or 0)
    consumer.close()
    return done / seconds


def _consumer(kafka: KafkaSettings) -> Consumer:
    """A group member configured as the pipeline's consumer is (its fetch wait included)."""
    consumer = make_consumer(kafka, f"bench-{uuid.uuid4().hex[:6]}")
    consumer.subscribe([kafka.ticks_topic])
    return consumer


def _next_offsets(messages: list) -> list[TopicPartition]:  # type: ignore[type-arg]
    last: dict[int, int] = {}
    for m in messages:
        last[m.partition()] = max(last.get(m.partition(), -1), m.offset())
    return [TopicPartition(messages[0].topic(), p, o + 1) for p, o in last.items()]


#: What a latency run measures: its registry, the histogram's name, and how to stop it.
Started = tuple[CollectorRegistry, str, Callable[[], None]]


def start_pipeline(kafka: KafkaSettings, model: ModelSettings) -> Started:
    """The consumer; its end-to-end histogram (event time to prediction acknowledged)."""
    registry = CollectorRegistry()
    settings = ConsumerSettings(group=f"latency-{uuid.uuid4().hex[:6]}", metrics_port=0)
    worker = build(kafka, settings, model, registry)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    while len(worker.engines) < kafka.ticks_partitions:  # the group join takes ~5 s on Tansu
        time.sleep(0.2)

    def finish() -> None:
        stop.set()
        thread.join(20)
        worker.close()

    return registry, LATENCY, finish


def start_arrivals(kafka: KafkaSettings) -> Started:
    """A consumer doing no work: event time to the tick's arrival, the broker's share."""
    registry = CollectorRegistry()
    histogram = BatchHistogram(ARRIVAL, "arrival", LATENCY_BUCKETS, registry)
    consumer = _consumer(kafka)
    while not consumer.assignment():
        consumer.poll(0.2)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            messages = consumer.consume(10_000, timeout=0.005)
            now = time.time()
            histogram.observe_many([now - m.timestamp()[1] / 1000 for m in messages])

    thread = threading.Thread(target=loop)
    thread.start()

    def finish() -> None:
        stop.set()
        thread.join(20)
        consumer.close()

    return registry, ARRIVAL, finish


def latency_run(
    bootstrap: str, rate: float, seconds: float, start: Callable[[KafkaSettings], Started]
) -> list[dict[str, float]]:
    """Quantiles over the whole run, then over each 10 s window of it; the first 5 s after
    the reader owns its partitions are not counted."""
    kafka = fresh_topics(bootstrap, "bench")
    registry, name, finish = start(kafka)
    env = {**os.environ, "VOLSTREAM_KAFKA_TICKS_TOPIC": kafka.ticks_topic}
    producer = subprocess.Popen(
        [sys.executable, "-m", "volstream", "--log-level", "WARNING", "produce",
         "--bootstrap", bootstrap, "--rate", str(rate), "--duration", str(seconds + 5),
         "--metrics-port", "0", "--no-progress"],
        env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(5)
    snapshots = [_buckets(registry, name)]
    for _ in range(int(seconds // WINDOW_SECONDS)):
        time.sleep(WINDOW_SECONDS)
        snapshots.append(_buckets(registry, name))
    producer.wait()
    finish()
    return [_quantiles([(le, after[le] - before.get(le, 0.0)) for le in after])
            for before, after in [(snapshots[0], snapshots[-1]), *pairwise(snapshots)]]  # fmt: skip


WINDOW_SECONDS = 10


LATENCY = "volstream_consumer_end_to_end_latency_seconds"
ARRIVAL = "bench_arrival_seconds"


def _buckets(registry: CollectorRegistry, name: str) -> dict[float, float]:
    return {
        float(s.labels["le"]): s.value
        for m in registry.collect() for s in m.samples
        if s.name == f"{name}_bucket"
    }  # fmt: skip


def _quantiles(buckets: list[tuple[float, float]]) -> dict[str, float]:
    """p50, p90, p99 of cumulative (upper bound, count) buckets, and the share over 100 ms."""
    counts = dict(buckets)
    total = max(counts.values())
    result = {"count": total, "over_100ms": 1 - counts[0.1] / total}
    for q in (0.5, 0.9, 0.99):
        result[f"p{int(q * 100)}"] = bucket_quantile(buckets, q) or 0.0
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--naive-ticks", type=int, default=20_000)
    parser.add_argument("--part", choices=["all", "throughput", "quality", "latency"],
                        default="all")  # fmt: skip
    parser.add_argument("--quality-ticks", type=int, default=300_000)
    parser.add_argument("--latency-seconds", type=int, default=30, help="measured per run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    registry_dir = Path(tempfile.mkdtemp(prefix="bench-models-"))
    train(TrainSettings(), ModelSettings(registry=registry_dir))
    model = ModelSettings(registry=registry_dir)
    if args.part in ("all", "throughput"):
        throughput(args, model, ModelRegistry(registry_dir).current().model_file)
    if args.part in ("all", "quality"):
        quality(args, model)
    if args.part in ("all", "latency"):
        latency(args.runs, args.latency_seconds, model)


def throughput(args: argparse.Namespace, model: ModelSettings, model_file: Path) -> None:
    with EmbeddedBroker(BrokerSettings(port=free_port())) as broker:
        kafka = fresh_topics(broker.bootstrap, "bench")
        settings = ProducerSettings(
            count=args.ticks, rate=0, symbols="100", metrics_port=0, progress=False
        )
        produce(kafka, settings, threading.Event())
        stage_totals: list[dict[str, float]] = []

        def measured() -> float:
            rate, stages = pipeline_run(kafka, model)
            stage_totals.append(stages)
            return rate

        ours, ours_all = median_of(args.runs, measured)
        ceiling, ceiling_all = median_of(args.runs, lambda: ceiling_run(kafka, args.ticks))
        naive, naive_all = median_of(2, lambda: naive_run(kafka, model_file, args.naive_ticks))
    print(f"{args.ticks:,} ticks, 100 symbols, 6 partitions, embedded Tansu on this machine\n")
    rows = [
        ("`volstream consume --stop-at-end` (decode, features, LightGBM, publish, commit)",
         ours, ours_all),
        ("consume-and-republish, no work (ceiling)", ceiling, ceiling_all),
        (f"one message at a time, same features and model ({args.naive_ticks:,} ticks)",
         naive, naive_all),
    ]  # fmt: skip
    print(rates_table(rows, ours, "the pipeline"))
    busy = {s: float(np.median([t[s] for t in stage_totals])) for s in STAGES}
    total = sum(busy.values())
    print("\nstage | µs per tick | share")
    print("--- | ---: | ---:")
    for stage, seconds in busy.items():
        print(f"{stage} | {seconds / args.ticks * 1e6:.2f} | {seconds / total:.1%}")


def marked_batch(ticks: TickBatch, partitions: npt.NDArray[np.int64]) -> tuple[Decoded, Decoded]:
    """A batch with a canary marker for each of the 6 partitions (the default canary sends
    about one per 100,000 ticks at full load: this is a hundred times more), and the same
    batch without them."""
    now_ms = int(ticks.event_time_ms.max())
    markers = TickBatch.from_ticks([marker_tick(1, p, now_ms) for p in range(6)])
    marked = TickBatch.concat([ticks, markers])
    where = np.concatenate([partitions, np.arange(6)])
    offsets = np.arange(len(marked), dtype=np.int64)
    plain = Decoded(ticks, partitions, offsets[: len(ticks)], partitions, offsets[: len(ticks)])
    return Decoded(marked, where, offsets, where, offsets), plain


def quality(args: argparse.Namespace, model: ModelSettings) -> None:
    ticks = TickBatch.from_ticks(synthetic_ticks(args.quality_ticks, symbols=100, tick_rate=500))
    partitions = np.array([int(s.rsplit("-", 1)[1]) % 6 for s in ticks.symbol], dtype=np.int64)
    n = len(ticks)

    batches = [marked_batch(ticks.take(slice(s, s + BATCH)), partitions[s : s + BATCH])
               for s in range(0, n, BATCH)]  # fmt: skip

    def features_stage(checked: bool) -> float:
        """Seconds per tick of the features stage, with the data-quality checks and the
        markers taken out, or neither (the markers left out beforehand)."""
        sigmas = ConsumerSettings().jump_sigmas if checked else 0.0
        engines = {p: FeatureEngine(symbols=16, jump_sigmas=sigmas) for p in range(6)}
        checks = StreamQuality(late_after_ms=5000)
        started = time.perf_counter()
        for decoded, plain in batches:
            if checked:
                rest, _ = take_markers(decoded)
                _, flags = compute_features(engines, rest.ticks, rest.partitions)
                checks.count(rest.ticks, rest.partitions, flags)
            else:
                compute_features(engines, plain.ticks, plain.partitions)
        return (time.perf_counter() - started) / n

    features_stage(True)  # compiled and warm
    with_checks, without = [], []
    for _ in range(args.runs):
        with_checks.append(features_stage(True))
        without.append(features_stage(False))
    with EmbeddedBroker(BrokerSettings(port=free_port())) as broker:
        kafka = fresh_topics(broker.bootstrap, "bench")
        settings = ProducerSettings(count=args.ticks, rate=0, symbols="100", metrics_port=0,
                                    progress=False)  # fmt: skip
        produce(kafka, settings, threading.Event())
        rate, rates = median_of(args.runs, lambda: pipeline_run(kafka, model)[0])
    cost = float(np.median(with_checks) - np.median(without))
    print(
        f"\ndata-quality checks and canary markers, {n:,} ticks in batches of {BATCH:,} "
        "plus a marker per partition, 6 partitions, "
        f"{args.runs} runs (medians)\n"
    )
    print("what | µs per tick | runs")
    print("--- | ---: | ---")
    for name, values in (("features stage with the checks and markers taken out", with_checks),
                         ("features stage without either", without)):  # fmt: skip
        shown = ", ".join(f"{v * 1e6:.3f}" for v in values)
        print(f"{name} | {np.median(values) * 1e6:.3f} | {shown}")
    print(f"the checks | {cost * 1e6:.3f} |")
    print(
        f"whole pipeline ({rate:,.0f} ticks/s: {', '.join(f'{r:,.0f}' for r in rates)}) | "
        f"{1e6 / rate:.3f} |"
    )
    print(f"\n**The checks and the canary cost {cost * rate:.2%} of the pipeline's throughput.**")


def latency(runs: int, seconds: int, model: ModelSettings) -> None:
    """Each run on a fresh broker: Tansu's memory storage slows as it fills, and the
    throughput runs leave it holding millions of records."""
    readers = {"the pipeline (event time to prediction acknowledged)":
                   lambda kafka: start_pipeline(kafka, model),
               "no-work consumer (event time to arrival)": start_arrivals}  # fmt: skip
    print(f"\nlatency at 10,000 ticks/s offered, {seconds} s after a 5 s warm-up,"
          f" median of {runs} runs, each on a fresh broker\n")  # fmt: skip
    print("reader | window | ticks | p50 ms | p90 ms | p99 ms | over 100 ms | p99 of each run ms")
    print("--- | --- | ---: | ---: | ---: | ---: | ---: | ---")
    for reader, start in readers.items():
        runs_windows = []
        for _ in range(runs):
            with EmbeddedBroker(BrokerSettings(port=free_port())) as broker:
                runs_windows.append(latency_run(broker.bootstrap, 10_000, seconds, start))
        for i in range(len(runs_windows[0])):
            start_s, end_s = (i - 1) * WINDOW_SECONDS, i * WINDOW_SECONDS
            window = f"all {seconds} s" if i == 0 else f"{start_s}-{end_s} s"
            print(_latency_row(reader, window, [run[i] for run in runs_windows]))


def _latency_row(reader: str, window: str, runs: list[dict[str, float]]) -> str:
    def median(key: str) -> float:
        return float(np.median([run[key] for run in runs]))

    each = ", ".join(f"{run['p99'] * 1000:.1f}" for run in runs)
    return (f"{reader} | {window} | {median('count'):,.0f} | {median('p50') * 1000:.1f} | "
            f"{median('p90') * 1000:.1f} | {median('p99') * 1000:.1f} | "
            f"{median('over_100ms'):.2%} | {each}")  # fmt: skip


if __name__ == "__main__":
    main()
