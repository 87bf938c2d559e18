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
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer
from confluent_kafka.admin import AdminClient
from prometheus_client import CollectorRegistry

from tests.integration.test_api import get, start_api
from volstream.consumer.lag import LagTracker
from volstream.consumer.main import build
from volstream.consumer.probes import ConsumerProbes
from volstream.feature_engine import FeatureEngine
from volstream.features import FEATURE_NAMES
from volstream.kafka.admin import ensure_topics
from volstream.kafka.embedded import EmbeddedBroker, free_port
from volstream.metrics import serve_metrics
from volstream.predictions import decode_prediction
from volstream.producer.main import run as run_producer
from volstream.settings import (
    BrokerSettings,
    ConsumerSettings,
    KafkaSettings,
    ModelSettings,
    ProducerSettings,
    synthetic_symbols,
)
from volstream.testing import (
    consume_to_end,
    fresh_topics,
    produce_synthetic,
    read_all,
    start_consumer,
    stop_process,
    wait_for,
)
from volstream.testing.faults import faulted_stream
from volstream.testing.payloads import BAD_PAYLOADS, tick_payload
from volstream.ticks import decode_batch

pytestmark = pytest.mark.kafka


def test_one_prediction_per_valid_tick_and_rejects_in_the_dlq(
    kafka: KafkaSettings, small_registry: Path
) -> None:
    produce_synthetic(kafka, 3000, symbols="12")
    now_ms = int(time.time() * 1000)
    bad = {
        reason: body.replace(b"1763650000000", str(now_ms).encode())
        for reason, body in BAD_PAYLOADS.items()
    }
    bad["future_timestamp"] = tick_payload(event_time_ms=now_ms + 3_600_000)
    producer = Producer(kafka.client_config())
    for reason, body in sorted(bad.items()):
        producer.produce(kafka.ticks_topic, body, key=reason.encode(), timestamp=now_ms)
    producer.flush(10)
    registry = CollectorRegistry()
    summary = consume_to_end(kafka, small_registry, registry, group="exactly-once-each")
    assert (summary.consumed, summary.predicted, summary.rejected) == (
        3000 + len(bad),
        3000,
        len(bad),
    )

    predictions = read_all(kafka, kafka.predictions_topic, 3000)
    documents = [decode_prediction(m.value()) for m in predictions]
    sources = Counter((d.source_partition, d.source_offset) for d in documents)
    assert len(sources) == 3000 and max(sources.values()) == 1
    assert all(m.key().decode() == d.symbol for m, d in zip(predictions, documents, strict=True))
    assert all(
        m.timestamp()[1] == d.event_time_ms for m, d in zip(predictions, documents, strict=True)
    )
    assert all(d.spike == (d.probability >= d.threshold) for d in documents)

    dead = read_all(kafka, kafka.dlq_topic, len(bad))
    by_reason = {dict(m.headers())["reason"].decode(): m for m in dead}
    assert set(by_reason) == set(bad)
    for reason, message in by_reason.items():
        headers = dict(message.headers())
        assert message.value() == bad[reason]  # the original bytes, untouched
        assert message.key() == reason.encode()
        assert headers["source_topic"].decode() == kafka.ticks_topic
        assert int(headers["source_offset"]) >= 0 and headers["detail"]
    for reason in bad:
        assert (
            registry.get_sample_value("volstream_consumer_rejected_total", {"reason": reason}) == 1
        )
    assert registry.get_sample_value("volstream_consumer_end_to_end_latency_seconds_count") == 3000
    version = {documents[0].model_version}
    assert {d.model_version for d in documents} == version
    probability = "volstream_consumer_prediction_probability"
    labels = {"model_version": version.pop()}
    assert registry.get_sample_value(f"{probability}_count", labels) == 3000
    total = registry.get_sample_value(f"{probability}_sum", labels)
    assert total == pytest.approx(sum(d.probability for d in documents), rel=1e-4)


def test_state_is_rebuilt_after_a_restart(kafka: KafkaSettings, small_registry: Path) -> None:
    produce_synthetic(kafka, 4000, symbols="6")
    consume_to_end(kafka, small_registry, group="rebuild", max_messages=2500, batch_size=500)
    consume_to_end(kafka, small_registry, group="rebuild", batch_size=500)
    ticks = read_all(kafka, kafka.ticks_topic, 4000)
    expected: dict[tuple[int, int], np.ndarray] = {}
    for partition in {m.partition() for m in ticks}:
        mine = sorted((m for m in ticks if m.partition() == partition), key=lambda m: m.offset())
        batch = decode_batch([m.value() for m in mine], now_ms=int(time.time() * 1000))
        rows = FeatureEngine().update(batch)
        expected.update({(partition, m.offset()): row for m, row in zip(mine, rows, strict=True)})
    predictions = [
        decode_prediction(m.value()) for m in read_all(kafka, kafka.predictions_topic, 4000)
    ]
    latest = {(p.source_partition, p.source_offset): p for p in predictions}  # the last word wins
    assert len(latest) == 4000
    for key, prediction in latest.items():
        got = [getattr(prediction.features, name) for name in FEATURE_NAMES]
        np.testing.assert_array_equal(got, expected[key], err_msg=str(key))


def _metrics(port: int) -> dict[str, float]:
    """The samples of a consumer's /metrics; empty while it is not serving yet."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def _sample(port: int, prefix: str) -> float:
    return next((v for k, v in _metrics(port).items() if k.startswith(prefix)), 0.0)


PREDICTIONS = "volstream_consumer_predictions_total"


def _assigned(port: int) -> float:
    return _sample(port, "volstream_consumer_assigned_partitions")


def _probe(port: int, path: str) -> tuple[int, str]:
    """Status and body of the consumer's /health or /ready."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode().strip()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode().strip()


def test_two_processes_share_the_partitions(kafka: KafkaSettings, small_registry: Path) -> None:
    ports = [free_port(), free_port()]
    first = start_consumer(kafka, small_registry, "sharing", ports[0])
    try:
        wait_for(lambda: _assigned(ports[0]) == 6, 60, "the first member to own all partitions")
        assert _probe(ports[0], "/ready") == (200, "ready: 6 partitions assigned")
        second = start_consumer(kafka, small_registry, "sharing", ports[1])
        try:
            split = lambda: _assigned(ports[0]) + _assigned(ports[1]) == 6 and _assigned(ports[1])  # noqa: E731
            wait_for(split, 90, "the partitions to be split")
            counts = [int(_assigned(port)) for port in ports]
            ready = [_probe(port, "/ready") for port in ports]
            assert ready == [(200, f"ready: {n} partitions assigned") for n in counts]
            assert [_probe(port, "/health") for port in ports] == [(200, "ok")] * 2
            produce_synthetic(kafka, 2000, symbols="30")
            predictions = "volstream_consumer_predictions_total"
            wait_for(lambda: sum(_sample(port, predictions) for port in ports) >= 2000,
                     60, "every prediction")  # fmt: skip
        finally:
            stop_process(second)
    finally:
        stop_process(first)
    predictions = read_all(kafka, kafka.predictions_topic, 2000)
    assert (
        len(
            {
                (json.loads(m.value())["source_partition"], json.loads(m.value())["source_offset"])
                for m in predictions
            }
        )
        == 2000
    )


def test_scaling_out_moves_only_the_partitions_that_change_owner(
    kafka: KafkaSettings, small_registry: Path
) -> None:
    """Cooperative rebalancing: while a second member joins, the partitions that stay with the
    first are never paused. With an eager assignor every partition stops for the whole join."""
    ports, stop = [free_port(), free_port()], threading.Event()
    steady = ProducerSettings(count=1_000_000, rate=300, symbols="30", metrics_port=0,
                              progress=False)  # fmt: skip
    sent: list[int] = []
    ticking = threading.Thread(
        target=lambda: sent.append(run_producer(kafka, steady, stop).sent), daemon=True
    )
    first = start_consumer(kafka, small_registry, "scaling", ports[0])
    output = ""
    try:
        wait_for(lambda: _assigned(ports[0]) == 6, 60, "the first member to own all partitions")
        ticking.start()
        wait_for(lambda: _sample(ports[0], PREDICTIONS) >= 300, 30, "predictions")
        joined_ms = time.time() * 1000
        second = start_consumer(kafka, small_registry, "scaling", ports[1])
        try:
            wait_for(lambda: _sample(ports[1], PREDICTIONS) > 0, 90, "the second member to predict")
            split_ms = time.time() * 1000
        finally:
            stop_process(second)
    finally:
        stop.set()
        ticking.join(30)
        output = stop_process(first)
    revoked = re.search(r"revoked partitions \[([\d, ]+)\]", output)
    assert revoked, output
    kept = set(range(6)) - {int(p) for p in revoked.group(1).split(",")}
    assert 0 < len(kept) < 6, f"{revoked.group()}: the first member stopped for the join"

    predictions = read_all(kafka, kafka.predictions_topic, sent[0], timeout=10)
    documents = [decode_prediction(m.value()) for m in predictions]
    assert split_ms - joined_ms > 3000, "the join takes seconds on this broker"
    for partition in kept:
        times = sorted(d.processed_time_ms for d in documents if d.source_partition == partition
                       and joined_ms <= d.processed_time_ms <= split_ms)  # fmt: skip
        gaps = np.diff([joined_ms, *times, split_ms])
        assert gaps.max() < 1500, f"partition {partition} paused {gaps.max():.0f} ms"


def _produce_at_1000_a_second(kafka: KafkaSettings, count: int) -> subprocess.Popen[str]:
    """``volstream produce`` of ``count`` ticks over 30 symbols, as a child process."""
    env = {**os.environ, "VOLSTREAM_KAFKA_TICKS_TOPIC": kafka.ticks_topic}
    return subprocess.Popen(
        [sys.executable, "-m", "volstream", "produce", "--bootstrap", kafka.bootstrap,
         "--rate", "1000", "--count", str(count), "--symbols", "30", "--metrics-port", "0",
         "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip


def test_a_broker_paused_for_20_s_loses_no_tick(small_registry: Path) -> None:
    """SIGSTOP of the broker mid-stream: the producer, the consumer and the API ride it out in
    place, and each says once that the broker stopped answering, and once that it is back."""
    with EmbeddedBroker(BrokerSettings(port=free_port())) as broker:
        assert broker.pid is not None
        kafka = fresh_topics(broker.bootstrap, "pause")
        port = free_port()
        consumer = start_consumer(kafka, small_registry, "pause", port)
        producer = _produce_at_1000_a_second(kafka, 30_000)
        api_port = free_port()
        api = start_api(kafka, small_registry, api_port)
        symbol = f"/predict/{synthetic_symbols(30)[0]}"
        try:
            wait_for(lambda: _sample(port, PREDICTIONS) >= 3000, 60, "predictions")
            wait_for(lambda: get(api_port, symbol)[0] == 200, 30, "the API to predict")
            os.kill(broker.pid, signal.SIGSTOP)
            time.sleep(20)
            os.kill(broker.pid, signal.SIGCONT)
            produced, _ = producer.communicate(timeout=120)
            wait_for(lambda: _sample(port, PREDICTIONS) >= 30_000, 120, "every prediction")
            wait_for(lambda: get(api_port, "/ready")[0] == 200, 30, "the API to be ready")
            assert get(api_port, symbol)[0] == 200
            assert consumer.poll() is None and api.poll() is None, "no restart"
        finally:
            producer.kill()
            output, served = stop_process(consumer), stop_process(api)
        assert "sent=30000 failed=0" in produced
        documents = map(decode_prediction, (m.value() for m in read_all(
            kafka, kafka.predictions_topic, 30_000)))  # fmt: skip
        assert len({(d.source_partition, d.source_offset) for d in documents}) == 30_000
        assert "lost partitions" in output  # the broker expired its session meanwhile
        for said in (output, produced, served):  # one line when the broker stalled, one when back
            assert said.count("has answered nothing for") == 1, said
            assert said.count("answers again after") == 1, said


def test_a_broker_restarted_empty_is_ridden_out(small_registry: Path) -> None:
    """The embedded broker keeps nothing: killed and started again it knows no topic, group or
    producer id. Its topics are created again (as `volstream broker` does at every start), and
    the producer, the consumer and the API resume on their own, each saying so in one line."""
    port = free_port()
    broker = EmbeddedBroker(BrokerSettings(port=port))
    broker.start()
    kafka = fresh_topics(broker.bootstrap, "empty")
    metrics_port, api_port = free_port(), free_port()
    consumer = start_consumer(kafka, small_registry, "empty", metrics_port)
    producer = _produce_at_1000_a_second(kafka, 40_000)
    api = start_api(kafka, small_registry, api_port)
    symbol = f"/predict/{synthetic_symbols(30)[0]}"
    try:
        wait_for(lambda: _sample(metrics_port, PREDICTIONS) >= 10_000, 60, "predictions")
        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGKILL)
        broker.stop()
        restarted_ms = time.time() * 1000
        broker.start()
        ensure_topics(kafka)
        produced, _ = producer.communicate(timeout=120)
        ticks = read_all(kafka, kafka.ticks_topic, 20_000)
        assert len(ticks) > 20_000, "the producer went on, into the new log"

        def predicted() -> set[tuple[int, int]]:
            documents = map(decode_prediction, (m.value() for m in read_all(
                kafka, kafka.predictions_topic, len(ticks), timeout=5)))  # fmt: skip
            return {(d.source_partition, d.source_offset) for d in documents}

        new_log = {(m.partition(), m.offset()) for m in ticks}
        wait_for(lambda: new_log <= predicted(), 90, "a prediction of every tick of the new log")
        wait_for(lambda: get(api_port, symbol)[0] == 200
                 and get(api_port, symbol)[1]["features_event_time_ms"] > restarted_ms,
                 60, "the API to serve predictions of the new log")  # fmt: skip
        assert consumer.poll() is None and api.poll() is None, "no restart"
    finally:
        producer.kill()
        output, served = stop_process(consumer), stop_process(api)
        broker.stop()
    assert "sent=40000 failed=0" in produced, produced
    for said in (produced, output):  # each client of the old broker was replaced, once
        assert said.count("failed for good") == 1, said
    assert output.count("the broker lost this group's offsets") == 1, output
    assert "Traceback" not in served


def test_kill_9_then_restart_loses_no_tick(kafka: KafkaSettings, small_registry: Path) -> None:
    produce_synthetic(kafka, 30_000, symbols="20")
    port = free_port()
    process = start_consumer(kafka, small_registry, "crash", port, "--batch-size", "500")
    try:
        wait_for(lambda: _sample(port, "volstream_consumer_predictions_total") >= 5000, 60,
              "some predictions")  # fmt: skip
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        process.kill()
        if process.stdout:
            process.stdout.close()
    summary = consume_to_end(kafka, small_registry, group="crash", batch_size=500)
    assert summary.consumed < 30_000  # the restart picked up where the commits were
    predictions = read_all(kafka, kafka.predictions_topic, 30_000, timeout=60)
    sources = Counter(
        (json.loads(m.value())["source_partition"], json.loads(m.value())["source_offset"])
        for m in predictions
    )
    assert len(sources) == 30_000, "every tick has a prediction"
    duplicates = sum(n - 1 for n in sources.values())
    assert duplicates <= 500 * 6 * 2, "at most the batches in hand were repeated"


def test_a_consumer_that_stops_committing_while_behind_is_not_ready(
    kafka: KafkaSettings, small_registry: Path
) -> None:
    registry, port = CollectorRegistry(), free_port()
    settings = ConsumerSettings(metrics_port=0, group="probed", lag_refresh_seconds=0.5,
                                stopped_after_seconds=2)  # fmt: skip
    tracker = LagTracker(settings.lag_window_seconds, settings.stopped_after_seconds)
    worker = build(kafka, settings, ModelSettings(registry=small_registry), registry,
                   tracker=tracker)  # fmt: skip
    assert worker is not None
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    with serve_metrics(registry, port, "consumer", probes=ConsumerProbes(tracker).routes()):
        assert _probe(port, "/ready") == (503, "not ready: no partition assigned")
        assert _probe(port, "/health") == (200, "starting: the batch loop has not started yet")
        thread.start()
        try:
            produce_synthetic(kafka, 500, symbols="12")
            wait_for(lambda: worker.consumed == 500, 60, "the consumer to catch up")
            assert _probe(port, "/ready")[0] == 200
            worker.pause()
            produce_synthetic(kafka, 500, symbols="12")
            unready = lambda: _probe(port, "/ready")[0] == 503  # noqa: E731
            wait_for(unready, 30, "the paused consumer to be reported not ready")
            assert re.fullmatch(r"not ready: partitions [\d, ]+ stalled or stopped",
                                _probe(port, "/ready")[1])  # fmt: skip
            assert _probe(port, "/health") == (200, "ok")  # the loop still goes round
            worker.resume()
            wait_for(lambda: _probe(port, "/ready")[0] == 200, 30, "the consumer to be ready again")
        finally:
            stop.set()
            thread.join(15)
            worker.close()


def test_data_quality_counts_each_injected_fault(
    kafka: KafkaSettings, small_registry: Path
) -> None:
    stream = faulted_stream(int(time.time() * 1000) - 300_000)
    producer = Producer(kafka.client_config(**{"linger.ms": 5}))
    for symbol, payload in stream.payloads:  # one partition: lateness is judged per partition
        producer.produce(kafka.ticks_topic, payload, symbol.encode(), partition=0)
    assert producer.flush(30) == 0
    registry = CollectorRegistry()
    settings = ConsumerSettings(metrics_port=0, group="quality", lag_refresh_seconds=0.5)
    worker = build(kafka, settings, ModelSettings(registry=small_registry), registry)
    assert worker is not None
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        stale = lambda: registry.get_sample_value(  # noqa: E731
            "volstream_consumer_stale_symbols", {"partition": "0"}
        )
        wait_for(lambda: worker.consumed == len(stream.payloads) and stale() == 1, 60,
                 "every tick consumed and the silent symbol found")  # fmt: skip
    finally:
        stop.set()
        thread.join(15)
        worker.close()
    found = {}
    for name in ("volstream_consumer_flagged_ticks_total", "volstream_consumer_rejected_total"):
        [family] = [f for f in registry.collect() if f.name + "_total" == name]
        found |= {s.labels["reason"]: s.value for s in family.samples if s.name == name}
    assert {reason: n for reason, n in found.items() if n} == stream.injected
    assert worker.predicted == stream.valid  # flagged ticks are predicted all the same


def test_lag_metrics_agree_with_the_lag_command_and_the_broker(
    kafka: KafkaSettings, small_registry: Path
) -> None:
    producer = Producer(kafka.client_config(**{"linger.ms": 0}))

    def one_at_a_time(count: int, symbols: list[str]) -> None:
        for i in range(count):  # one record per request: exact watermarks on any broker
            symbol = symbols[i % len(symbols)]
            producer.produce(kafka.ticks_topic, tick_payload(symbol=symbol, trade_id=time.time_ns(),
                             event_time_ms=int(time.time() * 1000)), symbol.encode(),
                             timestamp=int(time.time() * 1000))  # fmt: skip
            producer.flush(5)

    symbols = [f"LAG-{i}" for i in range(12)]
    one_at_a_time(24, symbols)
    registry = CollectorRegistry()
    settings = ConsumerSettings(metrics_port=0, group="lagging", lag_refresh_seconds=0.5)
    worker = build(kafka, settings, ModelSettings(registry=small_registry), registry)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:

        def group_lag() -> float | None:
            return registry.get_sample_value(
                "volstream_consumer_group_lag_records", {"group": "lagging"}
            )

        wait_for(lambda: worker.consumed == 24 and group_lag() == 0, 60, "the consumer to catch up")
        worker.pause()
        time.sleep(1)
        one_at_a_time(36, symbols)
        wait_for(lambda: group_lag() == 36, 30, "the backlog to show in the metrics")
        time.sleep(1)
        command = ["lag", "--group", "lagging", "--json", "--bootstrap", kafka.bootstrap,
                   "--topic", kafka.ticks_topic]  # fmt: skip
        one_record = {**os.environ, "VOLSTREAM_CONSUMER_BATCH_SIZE": "1"}  # ok within 1 record
        cli = subprocess.run([sys.executable, "-m", "volstream", *command], env=one_record,
                             capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
        rows = {row["partition"]: row for row in json.loads(cli.stdout)}
        admin = AdminClient(kafka.client_config())
        committed = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions("lagging")])[
            "lagging"
        ].result()
        broker = {tp.partition: tp.offset for tp in committed.topic_partitions}
        assert sum(row["lag"] for row in rows.values()) == 36
        for partition, row in rows.items():
            labels = {"group": "lagging", "topic": kafka.ticks_topic, "partition": str(partition)}
            assert registry.get_sample_value("volstream_consumer_lag_records", labels) == row["lag"]
            assert (
                registry.get_sample_value("volstream_consumer_committed_offset", labels)
                == broker[partition]
                == row["committed"]
            )
            high = registry.get_sample_value("volstream_consumer_high_watermark", labels)
            assert max(high or 0, row["committed"]) == row["high_watermark"]  # raised if read low
            seconds = registry.get_sample_value("volstream_consumer_lag_seconds", labels)
            assert seconds == pytest.approx(row["lag_seconds"], abs=2.5)
            assert (seconds > 0) == (row["lag"] > 0)
            assert row["state"] == ("lagging" if row["lag"] > 1 else "ok")
        as_table = [arg for arg in command if arg != "--json"]
        wide = {**os.environ, "COLUMNS": "200"}
        shown = subprocess.run([sys.executable, "-m", "volstream", *as_table], env=wide,
                               capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
        table = shown.stdout
        assert "state: ok within one batch (10,000 records" in table
        states = [line.split("│")[7].strip() for line in table.splitlines() if line.count("│") > 8]
        assert states == ["ok"] * len(rows)  # 36 records are within one batch of a live group
        worker.resume()
        wait_for(lambda: group_lag() == 0 and worker.consumed == 60, 30, "the backlog to clear")
    finally:
        stop.set()
        thread.join(15)
        worker.close()
