from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from volstream.kafka.embedded import free_port
from volstream.producer.main import run
from volstream.settings import KafkaSettings, ProducerSettings
from volstream.testing import http_status, read_all
from volstream.ticks import decode_batch

from ..coinbase_server import CAPTURE, capture_messages, feed

pytestmark = pytest.mark.kafka


def produce(kafka: KafkaSettings, registry: CollectorRegistry | None = None, **fields: object):  # type: ignore[no-untyped-def]
    settings = ProducerSettings(metrics_port=0, progress=False, **fields)  # type: ignore[arg-type]
    return run(kafka, settings, threading.Event(), registry=registry)


def test_synthetic_ticks_arrive_keyed_by_symbol_with_event_time(kafka: KafkaSettings) -> None:
    registry = CollectorRegistry()
    summary = produce(kafka, registry, count=5000, rate=0, symbols="20")
    assert (summary.sent, summary.failed) == (5000, 0)
    messages = read_all(kafka, kafka.ticks_topic, 5000)
    assert len(messages) == 5000
    batch = decode_batch([m.value() for m in messages], now_ms=int(time.time() * 1000))
    assert batch.rejects == []
    assert [m.key().decode() for m in messages] == batch.symbol
    assert [m.timestamp()[1] for m in messages] == batch.event_time_ms.tolist()
    assert max(batch.event_time_ms) <= time.time() * 1000, "a back-filled run ends about now"
    by_symbol: dict[str, list[int]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    for message, symbol, trade_id in zip(
        messages, batch.symbol, batch.trade_id.tolist(), strict=True
    ):
        by_symbol[symbol].append(trade_id)
        partitions[symbol].add(message.partition())
    assert all(ids == sorted(ids) for ids in by_symbol.values()), "a symbol's ticks stay in order"
    assert all(len(p) == 1 for p in partitions.values()), "a symbol lives on one partition"
    assert (
        registry.get_sample_value("volstream_producer_ticks_total", {"topic": kafka.ticks_topic})
        == 5000
    )
    count = registry.get_sample_value(
        "volstream_producer_produce_latency_seconds_count", {"topic": kafka.ticks_topic}
    )
    assert count == 5000


def test_coinbase_capture_replay_publishes_one_tick_per_ticker(kafka: KafkaSettings) -> None:
    registry = CollectorRegistry()
    summary = produce(kafka, registry, source="replay", files=str(CAPTURE), rate=0)
    tickers = [json.loads(m) for m in capture_messages() if '"type":"ticker"' in m]
    assert (summary.sent, summary.skipped) == (len(tickers), 5)
    messages = read_all(kafka, kafka.ticks_topic, len(tickers))
    exchange_ms = {t["trade_id"]: _iso_ms(t["time"]) for t in tickers}
    got = {json.loads(m.value())["trade_id"]: m.timestamp()[1] for m in messages}
    assert got == exchange_ms
    assert (
        registry.get_sample_value(
            "volstream_producer_skipped_total", {"reason": "coinbase_heartbeat"}
        )
        == 4
    )


def _iso_ms(text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_live_coinbase_source_publishes(kafka: KafkaSettings) -> None:
    messages = capture_messages()

    def script(number: int, connection) -> None:  # type: ignore[no-untyped-def]
        for message in messages:
            connection.send(message)
        time.sleep(2)

    tickers = [m for m in messages if '"type":"ticker"' in m]
    with feed(script) as (url, subscriptions):
        summary = produce(kafka, source="coinbase", coinbase_url=url, symbols="BTC-USD,ETH-USD",
                          count=len(tickers))  # fmt: skip
    assert summary.sent == len(tickers)
    assert subscriptions[0]["product_ids"] == ["BTC-USD", "ETH-USD"]
    assert len(read_all(kafka, kafka.ticks_topic, len(tickers))) == len(tickers)


def test_paced_rate_and_metrics_endpoint(kafka: KafkaSettings) -> None:
    port = free_port()
    settings = ProducerSettings(rate=500, duration_seconds=2, metrics_port=port, progress=False)
    result = {}
    thread = threading.Thread(
        target=lambda: result.update(s=run(kafka, settings, threading.Event()))
    )
    thread.start()
    time.sleep(1.2)
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    thread.join(10)
    assert "volstream_producer_ticks_total" in page
    assert "volstream_producer_source_lag_seconds" in page
    assert 700 <= result["s"].sent <= 1100, "about 500 ticks/s for 2 s"


def test_demo_trains_a_model_streams_until_ctrl_c_and_stops_cleanly(tmp_path: Path) -> None:
    consumer_port, api_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "volstream", "demo", "--port", str(free_port())],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
        env={**os.environ, "VOLSTREAM_PRODUCER_METRICS_PORT": str(free_port()),
             "VOLSTREAM_CONSUMER_METRICS_PORT": str(consumer_port),
             "VOLSTREAM_API_PORT": str(api_port), "VOLSTREAM_TRAIN_DURATION_SECONDS": "1800",
             "VOLSTREAM_DRIFT_METRICS_PORT": str(free_port()),
             "VOLSTREAM_DEMO_PROMETHEUS_PORT": str(free_port())},
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not any("streaming synthetic ticks" in line for line in lines):
            assert time.monotonic() < deadline and process.poll() is None, "".join(lines)
            time.sleep(0.2)
        deadline = time.monotonic() + 60
        while (
            _predictions(consumer_port) < 500
            or http_status(f"http://127.0.0.1:{api_port}/predict/SYN-000") != 200
        ):
            assert time.monotonic() < deadline and process.poll() is None, "".join(lines)
            time.sleep(0.5)
        stopped_at = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
        took = time.monotonic() - stopped_at
        reader.join(5)
    finally:
        process.kill()
        process.wait()
        if process.stdout:
            process.stdout.close()
    output = "".join(lines)
    assert process.returncode == 0, output
    assert took < 5
    assert "Traceback" not in output
    assert "no model in models yet; training one" in output
    assert (tmp_path / "models" / "registry.json").is_file()
    assert f"demo: API http://127.0.0.1:{api_port}" in output
    sent = [line for line in lines if re.match(r"producer +\| sent=", line)]
    assert sent and "failed=0" in sent[0], output
    assert int(sent[0].split("sent=")[1].split()[0]) > 300
    assert any(re.match(r"consumer +\| consumed=", line) for line in lines), output
    assert lines[-1].startswith("demo stopped: producer exit 0, ")
    codes = lines[-1].removeprefix("demo stopped: ").strip().split(", ")
    assert {"drift exit 0", "api exit 0", "consumer exit 0"} <= set(codes)  # and prometheus, if any


def _predictions(port: int) -> float:
    """The consumer's acknowledged predictions, from its /metrics (0 until it serves)."""
    try:
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except OSError:
        return 0.0
    for line in page.decode().splitlines():
        if line.startswith("volstream_consumer_predictions_total"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
