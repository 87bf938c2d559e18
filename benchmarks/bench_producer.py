"""Producer throughput on the embedded broker.

Runs the real command, ``volstream produce --source synthetic --count N --rate 0``,
several times on fresh topics and reports the median ticks/s next to the ceiling
of the same client and broker: a bare confluent-kafka loop sending one fixed,
pre-encoded tick (no generation, no encoding), run in the same script.

    .venv/bin/python benchmarks/bench_producer.py [--count 200000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

from confluent_kafka import Producer

from benchmarks.common import median_of, rates_table
from volstream.kafka.clients import PRODUCER_DEFAULTS, PRODUCER_REQUIRED
from volstream.kafka.embedded import EmbeddedBroker, free_port
from volstream.settings import BrokerSettings, KafkaSettings
from volstream.testing import fresh_topics

SAMPLE_TICK = (
    b'{"symbol":"SYN-042","event_time_ms":1763650000000,"price":101.2345,"size":0.53,'
    b'"bid":101.2301,"ask":101.2345,"bid_size":2.1,"ask_size":3.4,"side":"buy",'
    b'"trade_id":5000001,"sequence":1200000001}'
)


def volstream_produce(bootstrap: str, count: int) -> float:
    kafka = fresh_topics(bootstrap, "bench")
    env = {**os.environ, "VOLSTREAM_KAFKA_TICKS_TOPIC": kafka.ticks_topic}
    result = subprocess.run(
        [sys.executable, "-m", "volstream", "--log-level", "WARNING", "produce",
         "--bootstrap", bootstrap, "--source", "synthetic", "--count", str(count),
         "--rate", "0", "--metrics-port", "0", "--no-progress"],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    match = re.search(r"sent=(\d+) failed=0 .* rate=([\d,]+) ticks/s", result.stdout)
    if not match or int(match.group(1)) != count:
        msg = f"unexpected producer output: {result.stdout} {result.stderr}"
        raise SystemExit(msg)
    return float(match.group(2).replace(",", ""))


def bare_client(bootstrap: str, count: int) -> float:
    kafka: KafkaSettings = fresh_topics(bootstrap, "bench")
    producer = Producer(kafka.client_config(PRODUCER_DEFAULTS, **PRODUCER_REQUIRED))
    producer.list_topics(kafka.ticks_topic, timeout=10)  # metadata first, as the command does
    keys = [f"SYN-{i:03d}".encode() for i in range(100)]
    timestamp = int(time.time() * 1000)
    started = time.perf_counter()
    for i in range(count):
        while True:
            try:
                producer.produce(kafka.ticks_topic, SAMPLE_TICK, keys[i % 100], timestamp=timestamp)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(30)
    seconds = time.perf_counter() - started
    producer.close()
    return count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with EmbeddedBroker(BrokerSettings(port=free_port())) as broker:
        volstream_produce(broker.bootstrap, 20_000)  # warm the broker up
        ours, ours_all = median_of(
            args.runs, lambda: volstream_produce(broker.bootstrap, args.count)
        )
        ceiling, ceiling_all = median_of(
            args.runs, lambda: bare_client(broker.bootstrap, args.count)
        )
    rows = [
        ("`volstream produce` synthetic, rate 0", ours, ours_all),
        ("bare client, one fixed pre-encoded tick (ceiling)", ceiling, ceiling_all),
    ]
    print(rates_table(rows, ceiling, "ceiling"))


if __name__ == "__main__":
    main()
