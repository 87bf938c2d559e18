"""NVML GPU metrics: none (and one log line) without a GPU; a fake NVML's values on the gauges."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from volstream.gpu_metrics import register_gpu_metrics
from volstream.testing import FakeNvml


def test_fake_nvml_values_reach_the_gauges() -> None:
    registry = CollectorRegistry()
    register_gpu_metrics(registry, FakeNvml())
    value = registry.get_sample_value
    h100 = {"gpu": "1", "name": "NVIDIA H100 80GB HBM3"}
    assert value("volstream_gpu_utilization_ratio", {**h100, "gpu": "0"}) == 0.37
    assert value("volstream_gpu_utilization_ratio", h100) == 0.90
    assert value("volstream_gpu_memory_used_bytes", h100) == 60 * 2**30
    assert value("volstream_gpu_memory_total_bytes", h100) == 80 * 2**30
    assert value("volstream_gpu_temperature_celsius", h100) == 77
    assert value("volstream_gpu_power_watts", h100) == 650.0


def test_a_gpu_that_stops_answering_is_skipped_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    register_gpu_metrics(registry, FakeNvml(fail_gpu=0))
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            text = generate_latest(registry).decode()
    assert 'gpu="0"' not in text and 'gpu="1"' in text
    assert caplog.text.count("GPU 0 did not answer") == 1


def test_without_a_gpu_there_are_no_series_and_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """This machine has no NVIDIA driver: the real pynvml fails to initialise."""
    registry = CollectorRegistry()
    with caplog.at_level(logging.INFO, logger="volstream.gpu_metrics"):
        collector = register_gpu_metrics(registry)
        pages = [generate_latest(registry) for _ in range(3)]
    if collector.gpus:
        pytest.skip("this machine has a GPU")
    assert pages == [b"", b"", b""]
    lines = [r.getMessage() for r in caplog.records if r.name == "volstream.gpu_metrics"]
    assert len(lines) == 1 and lines[0].startswith("GPU metrics: none (")


def test_on_a_gpu_nvml_fills_every_gauge() -> None:
    """The real pynvml on a machine with a GPU: every family, every GPU, sane values."""
    registry = CollectorRegistry()
    collector = register_gpu_metrics(registry)
    if not collector.gpus:
        pytest.skip("no GPU: NVML sees none")
    value = registry.get_sample_value
    for index in range(collector.gpus):
        page = generate_latest(registry).decode()
        name = next(
            line.split('name="')[1].split('"')[0]
            for line in page.splitlines()
            if line.startswith(f'volstream_gpu_memory_total_bytes{{gpu="{index}"')
        )
        labels = {"gpu": str(index), "name": name}
        assert name.startswith("NVIDIA")
        total = value("volstream_gpu_memory_total_bytes", labels)
        used = value("volstream_gpu_memory_used_bytes", labels)
        assert total is not None and total > 2**30
        assert used is not None and 0 < used <= total
        utilization = value("volstream_gpu_utilization_ratio", labels)
        assert utilization is not None and 0 <= utilization <= 1
        assert 0 < (value("volstream_gpu_temperature_celsius", labels) or 0) < 120
        assert 0 < (value("volstream_gpu_power_watts", labels) or 0) < 2000
