"""HTTP serving: the volstream API against a plain FastAPI endpoint, with wrk.

The server runs on core 0 and wrk on core 1 (taskset). For each server, three
15 s runs of wrk with 32 connections (closed loop: as fast as the server
answers) give the saturation throughput and its p99; then a sweep of offered
rates (wrk paces each connection with its ``delay()`` hook) finds the highest
rate at which p99 stays under 10 ms (the saturation runs count too: with
32 connections a fast server's p99 stays low even when saturated). The
reference is ``benchmarks/reference_api.py`` (pydantic body model, uvicorn
defaults, ``Booster.predict`` on one row), run in the same script.
``GET /predict/{symbol}`` needs predictions in the topic: the
script first runs the producer and the consumer on the embedded broker.

    .venv/bin/python -m benchmarks.bench_api [--duration 15] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import row
from volstream.consumer.main import run as consume
from volstream.features import FEATURE_NAMES
from volstream.kafka.embedded import EmbeddedBroker, free_port
from volstream.model.registry import ModelRegistry
from volstream.model.training import train
from volstream.producer.main import run as produce
from volstream.settings import (
    BrokerSettings,
    ConsumerSettings,
    KafkaSettings,
    ModelSettings,
    ProducerSettings,
    TrainSettings,
    synthetic_symbols,
)
from volstream.testing import fresh_topics

SYMBOLS = 100
P99_LIMIT_MS = 10.0
ROW = dict(zip(FEATURE_NAMES, [0.0004, 0.0011, 0.0019, 0.0031, 0.00001, 24, 141, 7.5, 2.1,
                               0.12, 0.8, 14.0, 0.07], strict=True))  # fmt: skip
SERVER_CORE, WRK_CORE = "0", "1"


@dataclass(frozen=True)
class Run:
    rate: float  # requests/s answered
    p99_ms: float
    errors: int  # non-2xx answers and socket errors


def wrk(url: str, script: str, seconds: float, connections: int = 32) -> Run:
    """One wrk run with the Lua ``script``; fails loudly if any answer was not a 2xx."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    output = subprocess.run(
        ["taskset", "-c", WRK_CORE, "wrk", "-t1", f"-c{connections}", f"-d{round(seconds)}s",
         "--latency", "-s", f.name, url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    os.unlink(f.name)
    requests = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert requests, output
    rate = float(requests.group(1))
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    assert p99, output
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(bad.group(1)) if bad else 0
    errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return Run(rate, float(p99.group(1)) * scale, errors)


def post_script(pace_ms: float | None) -> str:
    body = json.dumps({"rows": [ROW]})
    return f"""wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
{pacing(pace_ms)}"""


def symbol_script(pace_ms: float | None) -> str:
    names = ", ".join(f'"{s}"' for s in synthetic_symbols(SYMBOLS))
    return f"""local symbols = {{{names}}}
request = function()
  return wrk.format("GET", "/predict/" .. symbols[math.random(#symbols)])
end
{pacing(pace_ms)}"""


def pacing(pace_ms: float | None) -> str:
    """A wrk ``delay()`` that spaces each connection's requests by ``pace_ms`` on average."""
    if pace_ms is None:
        return ""
    base = int(pace_ms)
    return f"""function delay()
  if math.random() < {pace_ms - base:.4f} then return {base + 1} end
  return {base}
end"""


@contextmanager
def server(command: list[str], port: int, env: dict[str, str]) -> Iterator[None]:
    """Run ``command`` on the server core until the block ends."""
    process = subprocess.Popen(
        ["taskset", "-c", SERVER_CORE, *command],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                problem = process.stderr.read() if process.stderr else ""
                msg = f"server did not start: {problem}"
                raise RuntimeError(msg) from None
            time.sleep(0.3)
    try:
        yield
    finally:
        process.terminate()
        process.wait(10)


def saturation(url: str, script: str, runs: int, seconds: float) -> tuple[Run, list[Run]]:
    results = [wrk(url, script, seconds) for _ in range(runs)]
    assert not any(r.errors for r in results), results
    median_rate = statistics.median(r.rate for r in results)
    return Run(median_rate, statistics.median(r.p99_ms for r in results), 0), results


def sweep(url: str, make_script: Callable[[float | None], str], start: float, step: float,
          seconds: float) -> list[Run]:  # fmt: skip
    """Offer ``start``, ``start + step``, ... requests/s until p99 passes the limit or the
    answered rate stops following the offered one (the server is saturated)."""
    steps = []
    offered = start
    while True:
        result = wrk(url, make_script(32_000 / offered), seconds)
        steps.append(result)
        print(f"  offered {offered:,.0f}/s: answered {result.rate:,.0f}/s, "
              f"p99 {result.p99_ms:.2f} ms", flush=True)  # fmt: skip
        if result.p99_ms >= P99_LIMIT_MS or result.errors or result.rate < 0.8 * offered:
            return steps
        offered += step


def highest_within_limit(runs: list[Run]) -> float:
    """The highest answered rate among ``runs`` whose p99 is under the limit."""
    return max((r.rate for r in runs if r.p99_ms < P99_LIMIT_MS and not r.errors), default=0.0)


def predictions_in_topic(registry: Path, bootstrap: str) -> KafkaSettings:
    kafka = fresh_topics(bootstrap, "bench")
    stop = threading.Event()
    produce(kafka, ProducerSettings(count=50_000, rate=0, symbols=str(SYMBOLS), metrics_port=0,
                                    progress=False), stop)  # fmt: skip
    consume(kafka, ConsumerSettings(stop_at_end=True, metrics_port=0, group="bench-api"),
            ModelSettings(registry=registry), stop)  # fmt: skip
    return kafka


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per wrk run")
    parser.add_argument("--runs", type=int, default=3, help="saturation runs per server")
    parser.add_argument("--sweep-duration", type=float, default=10.0, help="seconds per rate step")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    registry = work / "models"
    print("training the default model ...", flush=True)
    train(TrainSettings(), ModelSettings(registry=registry))
    version = ModelRegistry(registry).current()
    with EmbeddedBroker(BrokerSettings(port=free_port())) as broker:
        kafka = predictions_in_topic(registry, broker.bootstrap)
        ref_port, api_port = free_port(), free_port()
        reference_env = {
            "VOLSTREAM_BENCH_MODEL": str(version.model_file),
            "VOLSTREAM_BENCH_THRESHOLD": str(version.metadata["threshold"]),
        }
        reference = [sys.executable, "-m", "uvicorn", "benchmarks.reference_api:app",
                     "--port", str(ref_port)]  # fmt: skip
        with server(reference, ref_port, reference_env):
            print("reference (plain FastAPI) ...", flush=True)
            url = f"http://127.0.0.1:{ref_port}/predict"
            ref, ref_runs = saturation(url, post_script(None), args.runs, args.duration)
            ref_best = highest_within_limit(
                ref_runs + sweep(url, post_script, 1000, 500, args.sweep_duration)
            )
        api_env = {
            "VOLSTREAM_KAFKA_BOOTSTRAP": broker.bootstrap,
            "VOLSTREAM_KAFKA_PREDICTIONS_TOPIC": kafka.predictions_topic,
            "VOLSTREAM_MODEL_REGISTRY": str(registry),
            "VOLSTREAM_LOG_LEVEL": "WARNING",
        }
        command = [sys.executable, "-m", "volstream", "api", "--port", str(api_port)]
        with server(command, api_port, api_env):
            base = f"http://127.0.0.1:{api_port}"
            print("volstream POST /predict ...", flush=True)
            ours, our_runs = saturation(
                f"{base}/predict", post_script(None), args.runs, args.duration
            )
            our_best = highest_within_limit(
                our_runs + sweep(f"{base}/predict", post_script, 4000, 2000, args.sweep_duration)
            )
            print("volstream GET /predict/{symbol} ...", flush=True)
            sym, sym_runs = saturation(base, symbol_script(None), args.runs, args.duration)
            sym_best = highest_within_limit(
                sym_runs + sweep(base, symbol_script, 4000, 2000, args.sweep_duration)
            )
    shutil.rmtree(work)

    def runs(results: list[Run]) -> str:
        return ", ".join(f"{r.rate:,.0f} ({r.p99_ms:.1f})" for r in results)

    print()
    print(row("endpoint", "median requests/s (32 conn.)", "median p99 ms",
              "runs: requests/s (p99 ms)", "ratio to reference",
              "best rate, p99 < 10 ms"))  # fmt: skip
    print(row("---", "---:", "---:", "---", "---:", "---:"))
    for name, result, results, best in [
        ("reference: plain FastAPI `POST /predict`", ref, ref_runs, ref_best),
        ("volstream `POST /predict`", ours, our_runs, our_best),
        ("volstream `GET /predict/{symbol}`", sym, sym_runs, sym_best),
    ]:
        print(row(name, f"{result.rate:,.0f}", f"{result.p99_ms:.2f}", runs(results),
                  f"{result.rate / ref.rate:.2f}", f"{best:,.0f}"))  # fmt: skip


if __name__ == "__main__":
    main()
