"""Models follow the registry: a promotion and a rollback reach the consumer and the API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from volstream.consumer.main import build
from volstream.kafka.embedded import free_port
from volstream.model.registry import ModelRegistry
from volstream.model.training import train
from volstream.predictions import decode_prediction
from volstream.producer.main import run as produce
from volstream.settings import (
    ConsumerSettings,
    KafkaSettings,
    ModelSettings,
    ProducerSettings,
    TrainSettings,
)
from volstream.testing import read_all, stop_process, wait_for

pytestmark = pytest.mark.kafka
SWITCH_SECONDS = 10  # what the issue allows; following every second, it takes about one


def api_version(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=2) as page:
            model = json.loads(page.read())["model"]
    except OSError:
        return None
    return model["version"] if model else None


def test_a_promotion_and_a_rollback_reach_the_consumer_and_the_api_within_seconds(
    kafka: KafkaSettings, small_registry: Path, tmp_path: Path
) -> None:
    registry = tmp_path / "models"
    shutil.copytree(small_registry, registry)
    first = ModelRegistry(registry).current().name
    second = train(TrainSettings(duration_seconds=1800, symbols=10, tick_rate=80, seed=8,
                                 promote=False), ModelSettings(registry=registry)).name  # fmt: skip
    model = ModelSettings(registry=registry, follow_seconds=1)
    worker = build(kafka, ConsumerSettings(metrics_port=0, group="follow"), model,
                   CollectorRegistry())  # fmt: skip
    assert worker is not None
    finished = threading.Event()
    consumer = threading.Thread(target=worker.run, args=(finished,))
    port = free_port()
    env = {**os.environ, "VOLSTREAM_MODEL_FOLLOW_SECONDS": "1",
           "VOLSTREAM_KAFKA_PREDICTIONS_TOPIC": kafka.predictions_topic}  # fmt: skip
    api = subprocess.Popen(
        [sys.executable, "-m", "volstream", "api", "--port", str(port), "--registry",
         str(registry), "--bootstrap", kafka.bootstrap],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    ticks = ProducerSettings(rate=200, duration_seconds=40, symbols=["10"], metrics_port=0,
                             progress=False)  # fmt: skip
    sent: list[int] = []
    producer = threading.Thread(
        target=lambda: sent.append(produce(kafka, ticks, threading.Event()).sent)
    )
    consumer.start()
    try:
        wait_for(lambda: api_version(port) == first, 60, "the API")
        producer.start()
        wait_for(lambda: worker.predicted > 1000, 60, "predictions to flow")

        promoted_at = time.time()
        ModelRegistry(registry).promote(second)
        wait_for(lambda: api_version(port) == second, SWITCH_SECONDS, "the API to follow")
        api_promoted = time.time() - promoted_at
        time.sleep(SWITCH_SECONDS + 2)
        rolled_back_at = time.time()
        ModelRegistry(registry).rollback()
        wait_for(lambda: api_version(port) == first, SWITCH_SECONDS, "the API to roll back")
        producer.join(60)
        wait_for(lambda: worker.consumed >= sent[0], 60, "the consumer to catch up")
    finally:
        finished.set()
        consumer.join(30)
        worker.close()
        output = stop_process(api)
    assert api_promoted < SWITCH_SECONDS
    assert f"registry changed: now serving {second}/model" in output

    documents = [decode_prediction(m.value())
                 for m in read_all(kafka, kafka.predictions_topic, sent[0])]  # fmt: skip
    served = Counter((d.source_partition, d.source_offset) for d in documents)
    assert len(served) == sent[0] and max(served.values()) == 1  # every tick, once
    documents.sort(key=lambda d: d.processed_time_ms)
    switched = [d.processed_time_ms / 1000 for d in documents if d.model_version == second]
    assert switched and switched[0] - promoted_at < SWITCH_SECONDS
    back = [d.processed_time_ms / 1000 for d in documents
            if d.model_version == first and d.processed_time_ms / 1000 > promoted_at]  # fmt: skip
    assert back and back[0] - rolled_back_at < SWITCH_SECONDS
    versions = [d.model_version for d in documents]
    changes = sum(a != b for a, b in zip(versions, versions[1:], strict=False))
    assert changes == 2  # first -> second -> first, never back and forth
    before = [d for d in documents if d.processed_time_ms / 1000 < promoted_at]
    assert before and all(d.model_version == first for d in before)
