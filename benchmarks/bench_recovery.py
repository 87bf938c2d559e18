"""Recovery on the embedded broker: a consumer killed and restarted, and a second one joining.

Ticks flow at 1,000/s (30 symbols, 6 partitions) from a producer thread while
`volstream consume` processes run, as a deployment runs them:

1. Restart: once the consumer predicts, `kill -9` and an immediate restart with the same
   settings. Measured from the kill: the first new prediction, and every partition
   predicting again; the freshness (prediction time minus event time) p99 of the ticks
   that arrived in the 20 s after the kill; and whether every tick has a prediction.
   With dynamic membership (the default, cooperative-sticky) and with static membership
   (`--instance-id`; the eager `range` assignor, as the embedded broker leaves partitions
   without an owner when static members rebalance cooperatively).
2. Scale out: a second consumer joins the first. Measured: from its start to the moved
   partitions predicting again, and the longest pause of a moved partition and of one
   that stayed with the first.
3. Start: from launching `volstream consume` to its first poll (the line it logs right
   before it), the model already in the registry; median of 5.
4. Broker restarted empty (``--part empty-broker``): once the consumer predicts, the
   broker is killed and started again on its own port, and its topics created, as
   `volstream broker` does. Measured from its return: the first prediction of a tick of
   the new log, and every partition predicting; and the new log's ticks left without one.

    .venv/bin/python -m benchmarks.bench_recovery [--runs 3] [--part all|empty-broker]
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import statistics
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track

from benchmarks.common import row
from volstream.kafka.admin import ensure_topics
from volstream.kafka.embedded import EmbeddedBroker, free_port
from volstream.predictions import Prediction, decode_prediction
from volstream.producer.main import run as produce
from volstream.settings import BrokerSettings, KafkaSettings, ProducerSettings
from volstream.testing import (
    fresh_topics,
    read_all,
    sample,
    start_consumer,
    stop_process,
    train_tiny_model,
    wait_for,
)

RATE = 1_000
PARTITIONS = 6
HOLE_SECONDS = 20  # the ticks whose freshness is measured: those of the first 20 s after the kill
PREDICTIONS = "volstream_consumer_predictions_total"
STATIC = {"VOLSTREAM_KAFKA__PARTITION_ASSIGNMENT_STRATEGY": "range"}


@dataclass
class Restart:
    first_ms: float  # kill to the first new prediction
    all_ms: float  # kill to every partition predicting again
    fresh_p99_ms: float
    lost: int


@dataclass
class EmptyBroker:
    first_ms: float  # the broker back (topics created) to the first prediction of the new log
    all_ms: float  # ... to every partition predicting
    unpredicted: int  # ticks of the new log without a prediction


@dataclass
class ScaleOut:
    join_ms: float  # the second consumer's start to every moved partition predicting again
    moved_pause_ms: float  # longest pause of a partition that moved to the second consumer
    kept_pause_ms: float  # longest pause of a partition that stayed with the first


def predicted(port: int) -> float:
    """The consumer's predictions counter; 0 while it does not answer."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except OSError:
        return 0.0
    return sample(text.decode(), PREDICTIONS)


@contextmanager
def ticking(kafka: KafkaSettings) -> Iterator[list[int]]:
    """Ticks at RATE until the block ends; yields [ticks sent] once it has."""
    stop, sent = threading.Event(), []
    settings = ProducerSettings(count=10**9, rate=RATE, symbols="30", metrics_port=0,
                                progress=False)  # fmt: skip
    thread = threading.Thread(target=lambda: sent.append(produce(kafka, settings, stop).sent))
    thread.start()
    try:
        yield sent
    finally:
        stop.set()
        thread.join(30)


def all_predictions(kafka: KafkaSettings, ticks: int) -> list[Prediction]:
    return [decode_prediction(m.value()) for m in read_all(kafka, kafka.predictions_topic, ticks)]


def restart_run(bootstrap: str, registry: Path, static: bool) -> Restart:
    kafka, group = fresh_topics(bootstrap, "recovery"), f"recovery-{uuid.uuid4().hex[:6]}"
    port = free_port()
    extra, env = (("--instance-id", "bench-{hostname}"), STATIC) if static else ((), {})
    with ticking(kafka) as sent:
        first = start_consumer(kafka, registry, group, port, *extra, env=env)
        wait_for(lambda: predicted(port) >= 3 * RATE, 90, "predictions")
        first.send_signal(signal.SIGKILL)
        killed_ms = time.time() * 1000
        first.wait()
        restarted = start_consumer(kafka, registry, group, port, *extra, env=env)
        try:
            wait_for(lambda: predicted(port) >= (HOLE_SECONDS + 10) * RATE, 120, "a catch-up")
        finally:
            stop_process(restarted)
    # Every tick of the run, read back from the restarted consumer's committed work: it
    # stopped after the producer, so what it had not reached yet is read by a last run.
    last = start_consumer(kafka, registry, group, free_port(), "--stop-at-end", *extra, env=env)
    last.wait(120)
    documents = all_predictions(kafka, sent[0])
    after = [d for d in documents if d.processed_time_ms > killed_ms]
    starts = [min(d.processed_time_ms for d in after if d.source_partition == p)
              for p in range(PARTITIONS)]  # fmt: skip
    hole = [d.processed_time_ms - d.event_time_ms for d in documents
            if killed_ms <= d.event_time_ms <= killed_ms + HOLE_SECONDS * 1000]  # fmt: skip
    seen = {(d.source_partition, d.source_offset) for d in documents}
    return Restart(min(starts) - killed_ms, max(starts) - killed_ms,
                   float(np.percentile(hole, 99)), sent[0] - len(seen))  # fmt: skip


def scale_out_run(bootstrap: str, registry: Path) -> ScaleOut:
    kafka, group = fresh_topics(bootstrap, "scale"), f"scale-{uuid.uuid4().hex[:6]}"
    ports = [free_port(), free_port()]
    with ticking(kafka) as sent:
        first = start_consumer(kafka, registry, group, ports[0])
        wait_for(lambda: predicted(ports[0]) >= 3 * RATE, 90, "predictions")
        joined_ms = time.time() * 1000
        second = start_consumer(kafka, registry, group, ports[1])
        wait_for(lambda: predicted(ports[1]) > 0, 120, "the second consumer to predict")
        split_ms = time.time() * 1000
        stop_process(second)
    output = stop_process(first)
    revoked = re.search(r"revoked partitions \[([\d, ]+)\]", output)
    moved = {int(p) for p in revoked.group(1).split(",")} if revoked else set(range(PARTITIONS))
    documents = all_predictions(kafka, sent[0])
    pauses, resumed = {}, {}
    for partition in range(PARTITIONS):
        times = np.array(sorted({d.processed_time_ms for d in documents if d.source_partition
                                 == partition and joined_ms <= d.processed_time_ms <= split_ms}
                                | {joined_ms, split_ms}))  # fmt: skip
        gaps = np.diff(times)
        pauses[partition], resumed[partition] = gaps.max(), times[gaps.argmax() + 1]
    kept = set(range(PARTITIONS)) - moved
    return ScaleOut(
        max(resumed[p] for p in moved) - joined_ms,
        max(pauses[p] for p in moved),
        max([pauses[p] for p in kept], default=0.0),
    )


def empty_broker_run(registry: Path) -> EmptyBroker:
    broker = EmbeddedBroker(BrokerSettings(port=free_port()))
    broker.start()
    try:
        kafka, port = fresh_topics(broker.bootstrap, "empty"), free_port()
        with ticking(kafka):
            consumer = start_consumer(kafka, registry, "empty", port)
            wait_for(lambda: predicted(port) >= 3 * RATE, 90, "predictions")
            os.kill(broker.pid or 0, signal.SIGKILL)
            broker.stop()
            broker.start()
            ensure_topics(kafka)
            back_ms = time.time() * 1000
            time.sleep(HOLE_SECONDS + 10)
        stop_process(consumer)
        last = start_consumer(kafka, registry, "empty", free_port(), "--stop-at-end")
        last.wait(120)  # what the first had not reached when the ticks stopped
        ticks = {(m.partition(), m.offset()) for m in read_all(kafka, kafka.ticks_topic, 10**9,
                                                                timeout=5)}  # fmt: skip
        documents = [
            d for d in all_predictions(kafka, len(ticks)) if d.processed_time_ms > back_ms
        ]  # not what the old client sent again
        starts = [min(d.processed_time_ms for d in documents if d.source_partition == p)
                  for p in range(PARTITIONS)]  # fmt: skip
        seen = {(d.source_partition, d.source_offset) for d in documents}
        return EmptyBroker(min(starts) - back_ms, max(starts) - back_ms, len(ticks - seen))
    finally:
        broker.stop()


def first_poll_seconds(kafka: KafkaSettings, registry: Path) -> float:
    """From launching ``volstream consume`` to the line it logs right before its first poll."""
    started = time.time()
    process = start_consumer(kafka, registry, f"start-{uuid.uuid4().hex[:6]}", free_port())
    assert process.stdout is not None
    for line in process.stdout:
        if "volstream.consumer.stream: consuming " in line:
            # asctime is local time, as time.mktime reads it
            logged = (
                time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S")) + int(line[20:23]) / 1000
            )
            break
    stop_process(process)
    return logged - started


def seconds(values: list[float]) -> str:
    runs = ", ".join(f"{v / 1000:.1f}" for v in values)
    return f"{statistics.median(values) / 1000:.1f} s ({runs})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--part", choices=["all", "empty-broker"], default="all",
                        help="what to measure (default: all)")  # fmt: skip
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    registry = Path(tempfile.mkdtemp(prefix="bench-models-"))
    train_tiny_model(registry)
    if args.part == "all":
        restarts_and_scale_out(registry, args.runs)
    empties = [empty_broker_run(registry) for _ in track(range(args.runs),
               description="empty broker runs", console=Console(stderr=True))]  # fmt: skip
    print(row("broker restarted empty", "back → first prediction of the new log",
              "back → every partition", "new-log ticks without a prediction"))  # fmt: skip
    print(row("---", "---:", "---:", "---:"))
    print(row("embedded broker", seconds([e.first_ms for e in empties]),
              seconds([e.all_ms for e in empties]),
              sum(e.unpredicted for e in empties)))  # fmt: skip


def restarts_and_scale_out(registry: Path, runs: int) -> None:
    restarts: dict[str, list[Restart]] = {"dynamic": [], "static": []}
    scale_outs: list[ScaleOut] = []
    jobs = ["dynamic", "static", "scale out"] * runs  # taking turns: noise hits all alike
    with EmbeddedBroker(BrokerSettings(port=free_port())) as broker:
        kafka = fresh_topics(broker.bootstrap, "start")
        starts = [first_poll_seconds(kafka, registry) * 1000 for _ in range(5)]
        for job in track(jobs, description="recovery runs", console=Console(stderr=True)):
            if job == "scale out":
                scale_outs.append(scale_out_run(broker.bootstrap, registry))
            else:
                restarts[job].append(restart_run(broker.bootstrap, registry, job == "static"))
    print(f"volstream consume, launch → first poll: {seconds(starts)}\n")
    print(row("membership", "kill → first new prediction", "kill → every partition",
              "freshness p99, ticks of the 20 s after the kill", "ticks lost"))  # fmt: skip
    print(row("---", "---:", "---:", "---:", "---:"))
    for membership, measured in restarts.items():
        print(row(membership, seconds([r.first_ms for r in measured]),
                  seconds([r.all_ms for r in measured]),
                  seconds([r.fresh_p99_ms for r in measured]),
                  sum(r.lost for r in measured)))  # fmt: skip
    print()
    print(row("scale out", "second consumer's start → moved partitions predicting",
              "longest pause, a moved partition",
              "longest pause, a partition that stayed"))  # fmt: skip
    print(row("---", "---:", "---:", "---:"))
    print(row("1 → 2 consumers", seconds([s.join_ms for s in scale_outs]),
              seconds([s.moved_pause_ms for s in scale_outs]),
              seconds([s.kept_pause_ms for s in scale_outs])))  # fmt: skip
    print()


if __name__ == "__main__":
    main()
