"""The canary on the real broker: markers change no prediction, every partition's round trip
is measured, and a stopped consumer makes markers late, then lost, until it resumes."""

from __future__ import annotations

import signal
import threading
import time
from collections import defaultdict
from pathlib import Path

from confluent_kafka import Producer
from prometheus_client import CollectorRegistry

from volstream.canary.main import Canary
from volstream.canary.metrics import build_metrics
from volstream.kafka.embedded import free_port
from volstream.markers import CANARY_HEADER, CANARY_SYMBOL, decode_echo, marker_tick
from volstream.predictions import decode_prediction
from volstream.settings import CanarySettings, KafkaSettings
from volstream.testing import (
    consume_to_end,
    fresh_topics,
    read_all,
    start_consumer,
    stop_process,
    synthetic_ticks,
    wait_for,
)
from volstream.testing.prometheus import SeriesRecorder, check_alert
from volstream.ticks import encode_tick, encode_ticks

SLO_RULES = Path(__file__).parents[2] / "docker" / "prometheus" / "rules" / "slo.yml"
TICKS = 3000
MARKER_EVERY = 250  # ticks between two rounds of markers (one to each partition)


def publish(kafka: KafkaSettings, with_markers: bool) -> int:
    """The same ticks, in the same order; with a round of markers every ``MARKER_EVERY``.
    Returns the markers sent."""
    ticks = synthetic_ticks(TICKS, symbols=12, seed=5, start_ms=1_763_650_000_000)
    producer = Producer(kafka.client_config())
    markers = 0
    for start in range(0, TICKS, MARKER_EVERY):
        chunk = ticks[start : start + MARKER_EVERY]
        for tick, value in zip(chunk, encode_ticks(chunk), strict=True):
            producer.produce(kafka.ticks_topic, value, tick.symbol.encode(),
                             timestamp=tick.event_time_ms)  # fmt: skip
        for partition in range(kafka.ticks_partitions) if with_markers else ():
            markers += 1
            sent_ms = int(time.time() * 1000)
            producer.produce(kafka.ticks_topic, encode_tick(marker_tick(7, markers, sent_ms)),
                             CANARY_SYMBOL.encode(), partition=partition, timestamp=sent_ms,
                             headers=[(CANARY_HEADER, b"1")])  # fmt: skip
    assert producer.flush(30) == 0
    return markers


def predictions_by_symbol(kafka: KafkaSettings) -> dict[str, list[tuple[object, ...]]]:
    """Each symbol's predictions in offset order: event time, probability, features."""
    found = [decode_prediction(m.value()) for m in read_all(kafka, kafka.predictions_topic, TICKS)]
    found.sort(key=lambda p: (p.source_partition, p.source_offset))
    by_symbol: dict[str, list[tuple[object, ...]]] = defaultdict(list)
    for p in found:
        by_symbol[p.symbol].append((p.event_time_ms, p.probability, p.spike, p.features))
    return by_symbol


def test_markers_change_no_prediction_and_each_comes_back_once(
    kafka_bootstrap: str, small_registry: Path
) -> None:
    plain, marked = fresh_topics(kafka_bootstrap, "plain"), fresh_topics(kafka_bootstrap, "marked")
    publish(plain, with_markers=False)
    markers = publish(marked, with_markers=True)
    runs = {}
    for kafka in (plain, marked):
        metrics = CollectorRegistry()
        runs[kafka.ticks_topic] = consume_to_end(kafka, small_registry, metrics)
        assert metrics.get_sample_value("volstream_consumer_predictions_total",
                                        {"topic": kafka.predictions_topic}) == TICKS  # fmt: skip
        assert metrics.get_sample_value("volstream_consumer_end_to_end_latency_seconds_count") \
            == TICKS  # fmt: skip
    assert runs[marked.ticks_topic].consumed == TICKS + markers
    assert runs[marked.ticks_topic].predicted == runs[plain.ticks_topic].predicted == TICKS

    with_markers = predictions_by_symbol(marked)
    assert CANARY_SYMBOL not in with_markers
    assert with_markers == predictions_by_symbol(plain)  # every value, exactly

    echoes = [decode_echo(m.value()) for m in read_all(marked, marked.canary_topic, markers)]
    assert sorted(e.marker for e in echoes) == list(range(1, markers + 1))
    assert {e.source_partition for e in echoes} == set(range(marked.ticks_partitions))
    assert len({e.probability for e in echoes}) == 1  # the fixed row, one model
    assert read_all(plain, plain.canary_topic, 0, timeout=1) == []


class CanaryThread:
    """The canary in a thread of this process, its counters read straight from its metrics."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.registry = CollectorRegistry()
        settings = CanarySettings(interval_seconds=0.5, deadline_seconds=3, metrics_port=0)
        self.canary = Canary(kafka, settings, build_metrics(self.registry))
        self.partitions = [str(p) for p in range(kafka.ticks_partitions)]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.canary.start()
        while not self.stop.is_set():
            self.canary.turn()

    def each(self, name: str) -> list[float]:
        """``name``'s value on every partition."""
        value = self.registry.get_sample_value
        return [value(name, {"partition": p}) or 0.0 for p in self.partitions]


def sample_until_no_loss_for(canary: CanaryThread, recorder: SeriesRecorder, samples: int) -> None:
    """Sample once a second until ``samples`` in a row saw no marker lost (at most 120 s)."""
    deadline, quiet = time.monotonic() + 120, 0
    last = sum(canary.each("volstream_canary_markers_lost_total"))
    while quiet < samples:
        assert time.monotonic() < deadline, "markers are still lost 120 s after the resume"
        time.sleep(1)
        recorder.sample()
        now = sum(canary.each("volstream_canary_markers_lost_total"))
        quiet, last = (quiet + 1 if now == last else 0), now


def test_the_canary_times_every_partition_and_alerts_on_a_stopped_consumer(
    kafka: KafkaSettings, small_registry: Path
) -> None:
    """No consumer yet: markers expire uncounted. SIGSTOP the consumer: markers are late,
    then lost, and the fast-burn alert fires on this run's series (each second played as a
    minute); SIGCONT: they come back."""
    received = "volstream_canary_markers_received_total"
    lost = "volstream_canary_markers_lost_total"
    canary = CanaryThread(kafka)
    recorder = SeriesRecorder(canary.registry, {received, lost})
    canary.thread.start()
    time.sleep(4)  # past the deadline with no consumer yet: starting, not lost
    assert min(canary.each("volstream_canary_markers_sent_total")) > 0
    assert max(canary.each(lost)) == 0
    consumer = start_consumer(kafka, small_registry, "canaried", free_port())
    try:
        wait_for(lambda: min(canary.each(received)) >= 2, 90, "markers back on every partition")
        for _ in range(6):
            recorder.sample()
            time.sleep(1)
        stopped_at, lost_before = recorder.samples, canary.each(lost)
        consumer.send_signal(signal.SIGSTOP)
        late_seen = False
        for _ in range(15):
            time.sleep(1)
            recorder.sample()
            waiting = canary.each("volstream_canary_oldest_pending_seconds")
            late_seen |= min(waiting) >= 1 and canary.each(lost) == lost_before
        assert late_seen, "no sample saw every partition's marker late and none lost yet"
        assert all(now > before for now, before in zip(canary.each(lost), lost_before, strict=True))
        resumed_at, received_before = recorder.samples, canary.each(received)
        consumer.send_signal(signal.SIGCONT)
        sample_until_no_loss_for(canary, recorder, samples=32)  # past the alert's 30m window
        back = canary.each(received)
        assert all(now > before for now, before in zip(back, received_before, strict=True))
    finally:
        canary.stop.set()
        canary.thread.join(10)
        canary.canary.close()
        consumer.send_signal(signal.SIGCONT)
        output = stop_process(consumer)
    assert "Traceback" not in output

    counts = canary.each("volstream_canary_roundtrip_seconds_count")
    value = canary.registry.get_sample_value
    quick = [value("volstream_canary_roundtrip_seconds_bucket", {"partition": p, "le": "2.5"})
             for p in canary.partitions]  # fmt: skip
    assert min(counts) > 0  # measured on every partition
    assert sum(counts) > sum(q or 0 for q in quick)  # and the late ones, once back
    series = recorder.input_series({"job": "canary"})
    check_alert(
        [SLO_RULES],
        series,
        "CanaryAvailabilityBurnRateFast",
        {stopped_at - 1: False, resumed_at - 2: True, recorder.samples - 1: False},
    )
