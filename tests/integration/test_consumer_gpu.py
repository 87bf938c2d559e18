"""The consumer with ``VOLSTREAM_DEVICE=cuda`` on the real broker: the CPU's predictions.

Runs only where a GPU is usable; everywhere else the CUDA backend is held to
LightGBM by ``tests/test_gpu_backend.py`` (its CPU build and the CUDA simulator).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from volstream.consumer.main import run as run_consumer
from volstream.model.cuda import cuda_problem
from volstream.model.inference import CPU, CUDA
from volstream.predictions import decode_prediction
from volstream.settings import ConsumerSettings, DeviceSettings, KafkaSettings, ModelSettings
from volstream.testing import produce_synthetic, read_all

pytestmark = pytest.mark.skipif(cuda_problem() is not None, reason=f"no GPU: {cuda_problem()}")

TICKS = 20_000


def consume(kafka: KafkaSettings, registry: Path, device: str, metrics: CollectorRegistry) -> None:
    settings = ConsumerSettings(metrics_port=0, stop_at_end=True, group=f"on-{device}")
    devices = DeviceSettings(device=device)  # type: ignore[arg-type]
    summary = run_consumer(kafka, settings, ModelSettings(registry=registry), threading.Event(),
                           metrics, devices)  # fmt: skip
    assert summary.predicted == TICKS


def test_on_a_gpu_the_consumer_publishes_the_cpus_predictions(
    kafka: KafkaSettings, small_registry: Path
) -> None:
    produce_synthetic(kafka, TICKS, symbols="50")
    on_cpu, on_gpu = CollectorRegistry(), CollectorRegistry()
    consume(kafka, small_registry, "cpu", on_cpu)
    consume(kafka, small_registry, "cuda", on_gpu)

    by_source: dict[tuple[int, int], list[float]] = {}
    for message in read_all(kafka, kafka.predictions_topic, 2 * TICKS, timeout=60):
        document = decode_prediction(message.value())
        key = (document.source_partition, document.source_offset)
        by_source.setdefault(key, []).append(document.probability)
    assert len(by_source) == TICKS and all(len(p) == 2 for p in by_source.values())
    assert max(abs(cpu - gpu) for cpu, gpu in by_source.values()) <= 1e-6
    assert calls_by_backend(on_cpu).keys() == {CPU}
    assert calls_by_backend(on_gpu).keys() == {CUDA}


def calls_by_backend(metrics: CollectorRegistry) -> dict[str, float]:
    """Inference calls counted by the backend that ran them."""
    calls: dict[str, float] = {}
    for metric in metrics.collect():
        for sample in metric.samples:
            if sample.name == "volstream_consumer_inference_seconds_count" and sample.value:
                backend = sample.labels["backend"]
                calls[backend] = calls.get(backend, 0) + sample.value
    return calls
