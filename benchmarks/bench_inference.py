"""Inference backends: rows/s by batch size, 100- and 500-tree models; the consumer on a GPU.

For each model and batch size (1, 100, 1k, 10k, 100k rows of 13 features):
LightGBM's `Booster.predict` with 1 thread and with every core (the baseline),
the compiled CPU build of the CUDA backend's traversal (`trees.predict_cpu`),
and the CUDA backend itself where a GPU is usable. Each figure is the median of
5 measurements of at least 0.2 s. Then, on a GPU, the consumer's end-to-end
rate over one 1,000,000-tick backlog with VOLSTREAM_DEVICE=cpu and =cuda. Without a GPU,
the GPU rows say "not measured yet", never an estimate.

    .venv/bin/python -m benchmarks.bench_inference [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from benchmarks.common import row
from volstream.model.cuda import CudaScorer, cuda_problem
from volstream.model.trees import TreeArrays, predict_cpu
from volstream.testing import fresh_topics

BATCHES = (1, 100, 1000, 10_000, 100_000)
Rows = npt.NDArray[np.float64]


def model(trees: int) -> lgb.Booster:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50_000, 13))
    y = (rng.random(50_000) < 1 / (1 + np.exp(-(x[:, 0] - x[:, 1] * x[:, 2])))).astype(int)
    params = {"objective": "binary", "num_leaves": 31, "learning_rate": 0.05, "verbosity": -1,
              "seed": 3, "num_threads": os.cpu_count()}  # fmt: skip
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=trees)


def rows_per_second(score: Callable[[Rows], object], batch: Rows, runs: int) -> float:
    score(batch)  # warm-up: compilation, caches
    rates = []
    for _ in range(runs):
        calls, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < 0.2:
            score(batch)
            calls += 1
        rates.append(calls * len(batch) / elapsed)
    return statistics.median(rates)


def consumer_on_gpu(ticks: int) -> list[str]:
    """The consumer's rate over one backlog with VOLSTREAM_DEVICE=cpu, then cuda, and the
    share of its batch time that inference takes."""
    from benchmarks.bench_consumer import pipeline_run
    from volstream.kafka.embedded import EmbeddedBroker, free_port
    from volstream.model.training import train
    from volstream.producer.main import run as produce
    from volstream.settings import (
        BrokerSettings,
        DeviceSettings,
        ModelSettings,
        ProducerSettings,
        TrainSettings,
    )

    registry = Path(tempfile.mkdtemp(prefix="bench-gpu-"))
    model = ModelSettings(registry=registry)
    train(TrainSettings(), model)
    lines, rates = [], {}
    with EmbeddedBroker(BrokerSettings(port=free_port())) as broker:
        kafka = fresh_topics(broker.bootstrap, "bench")
        produce(kafka, ProducerSettings(count=ticks, rate=0, symbols="100", metrics_port=0,
                                        progress=False), threading.Event())  # fmt: skip
        for device in ("cpu", "cuda"):
            rate, stages = pipeline_run(kafka, model, DeviceSettings(device=device))
            rates[device] = rate
            share = stages["inference"] / sum(stages.values())
            lines.append(f"consumer, {ticks:,}-tick backlog, VOLSTREAM_DEVICE={device}: "
                         f"{rate:,.0f} ticks/s, inference {share:.0%} of batch time")  # fmt: skip
    lines.append(f"consumer cuda / cpu: {rates['cuda'] / rates['cpu']:.2f}x")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    problem = cuda_problem()
    cores = os.cpu_count() or 1
    x = np.random.default_rng(4).normal(size=(max(BATCHES), 13))
    print(row("model", "batch", "LightGBM 1 thread", f"LightGBM {cores} threads",
              "compiled CPU build", "CUDA backend", "CUDA / all-core CPU"))  # fmt: skip
    print(row("---", "---:", "---:", "---:", "---:", "---:", "---:"))
    for trees in (100, 500):
        booster = model(trees)
        arrays = TreeArrays.from_booster(booster)
        gpu = CudaScorer(arrays) if problem is None else None
        for size in BATCHES:
            batch = x[:size]
            one = rows_per_second(partial(booster.predict, num_threads=1), batch, args.runs)
            every = rows_per_second(partial(booster.predict, num_threads=cores), batch, args.runs)
            compiled = rows_per_second(partial(predict_cpu, arrays), batch, args.runs)
            if gpu is not None:
                on_gpu = rows_per_second(gpu.predict_proba, batch, args.runs)
                cells = (f"{on_gpu:,.0f}", f"{on_gpu / every:.1f}x")
            else:
                cells = ("not measured yet", "not measured yet")
            print(row(f"{trees} trees", f"{size:,}", f"{one:,.0f}", f"{every:,.0f}",
                      f"{compiled:,.0f}", *cells), flush=True)  # fmt: skip
    print()
    if problem is None:
        print("\n".join(consumer_on_gpu(10**6)))
    else:
        print(f"consumer on a GPU: not measured yet ({problem})")


if __name__ == "__main__":
    main()
