"""One drift pass: 100,000 current rows against the 50,000-row reference, all 14 columns.

The default model (`volstream train`) gives the reference. The current window
comes from the real pipeline: 130,000 synthetic ticks through the producer and
the consumer on the embedded broker. Each run is a fresh `volstream drift --once`
child process (reading the window from Kafka, Evidently on 13 features and the
prediction, the HTML and JSON reports), timed from its log line, with its
peak resident memory from the operating system.

    .venv/bin/python -m benchmarks.bench_drift [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from benchmarks.common import row
from volstream.consumer.main import run as consume
from volstream.kafka.embedded import EmbeddedBroker, free_port
from volstream.model.training import train
from volstream.producer.main import run as produce
from volstream.settings import (
    BrokerSettings,
    ConsumerSettings,
    ModelSettings,
    ProducerSettings,
    TrainSettings,
)
from volstream.testing import fresh_topics

CURRENT_ROWS = 100_000

PASS = re.compile(r"drift: .* (\d+) rows against (\d+), ([\d.]+) s;")


def one_pass(env: dict[str, str]) -> tuple[float, int, int, float]:
    """Seconds of the pass (from its log), current rows, reference rows, peak RSS in MiB."""
    code = (
        "import resource, subprocess, sys;"
        "r = subprocess.run([sys.executable, '-m', 'volstream', 'drift', '--once'],"
        " capture_output=True, text=True);"
        "print(r.stderr);"
        "print('MAXRSS', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, **env}, check=True).stdout  # fmt: skip
    found = PASS.search(output)
    assert found, output
    peak_kib = int(output.rsplit("MAXRSS", 1)[1])
    return float(found.group(3)), int(found.group(1)), int(found.group(2)), peak_kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-drift-"))
    registry = work / "models"
    print("training the default model ...", flush=True)
    train(TrainSettings(), ModelSettings(registry=registry))
    with EmbeddedBroker(BrokerSettings(port=free_port())) as broker:
        kafka = fresh_topics(broker.bootstrap, "bench")
        stop = threading.Event()
        produce(kafka, ProducerSettings(count=130_000, rate=0, symbols="30", metrics_port=0,
                                        progress=False), stop)  # fmt: skip
        consume(kafka, ConsumerSettings(stop_at_end=True, metrics_port=0, group="bench-drift"),
                ModelSettings(registry=registry), stop)  # fmt: skip
        env = {
            "VOLSTREAM_KAFKA_BOOTSTRAP": broker.bootstrap,
            "VOLSTREAM_KAFKA_PREDICTIONS_TOPIC": kafka.predictions_topic,
            "VOLSTREAM_MODEL_REGISTRY": str(registry),
            "VOLSTREAM_DRIFT_REPORTS_DIR": str(work / "reports"),
            "VOLSTREAM_DRIFT_MAX_ROWS": str(CURRENT_ROWS),
            "VOLSTREAM_DRIFT_WINDOW_MINUTES": "60",
        }
        runs = []
        for n in range(args.runs):
            runs.append(one_pass(env))
            print(f"  run {n + 1}: {runs[-1][0]:.2f} s, {runs[-1][1]:,} against {runs[-1][2]:,} "
                  f"rows, peak {runs[-1][3]:,.0f} MiB", flush=True)  # fmt: skip
    print()
    print(row("current rows", "reference rows", "median seconds", "runs (s)", "peak RSS MiB (max)"))
    print(row("---:", "---:", "---:", "---", "---:"))
    median = statistics.median(r[0] for r in runs)
    seconds = ", ".join(f"{r[0]:.2f}" for r in runs)
    peak = max(r[3] for r in runs)
    print(row(f"{runs[0][1]:,}", f"{runs[0][2]:,}", f"{median:.2f}", seconds, f"{peak:,.0f}"))


if __name__ == "__main__":
    main()
