"""GPU metrics through NVML (nvidia-ml-py), read at each scrape, per GPU.

Without an NVIDIA driver (or without the library) there are no GPU series and
one log line says why; a GPU that stops answering is logged once and skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["GpuCollector", "register_gpu_metrics"]

log = logging.getLogger(__name__)
LABELS = ["gpu", "name"]


class GpuCollector(Collector):
    """Utilization, memory, temperature and power of every GPU NVML sees."""

    def __init__(self, nvml: Any | None = None) -> None:
        self._nvml = nvml if nvml is not None else _load_nvml()
        self._failed: set[int] = set()
        self.gpus = 0
        if self._nvml is None:
            return
        try:
            self._nvml.nvmlInit()
            self.gpus = int(self._nvml.nvmlDeviceGetCount())
        except Exception as e:  # NVMLError subclasses, by driver state
            log.info("GPU metrics: none (NVML: %s)", e)
            self._nvml = None
            return
        log.info("GPU metrics: %d GPU(s) through NVML", self.gpus)

    def describe(self) -> Iterator[Metric]:
        return iter(())  # series depend on the machine: collected at scrape time only

    def collect(self) -> Iterator[Metric]:
        if self._nvml is None or not self.gpus:
            return
        families = {
            "utilization": GaugeMetricFamily("volstream_gpu_utilization_ratio",
                                             "Share of the last sample period a kernel ran.",
                                             labels=LABELS),
            "used": GaugeMetricFamily("volstream_gpu_memory_used_bytes", "GPU memory in use.",
                                      labels=LABELS),
            "total": GaugeMetricFamily("volstream_gpu_memory_total_bytes", "GPU memory.",
                                       labels=LABELS),
            "temperature": GaugeMetricFamily("volstream_gpu_temperature_celsius",
                                             "GPU core temperature.", labels=LABELS),
            "power": GaugeMetricFamily("volstream_gpu_power_watts", "GPU power draw.",
                                       labels=LABELS),
        }  # fmt: skip
        for index in range(self.gpus):
            values = self._read(index)
            if values is None:
                continue
            labels = [str(index), values.pop("name")]
            for key, value in values.items():
                families[key].add_metric(labels, value)
        yield from families.values()

    def _read(self, index: int) -> dict[str, Any] | None:
        nvml: Any = self._nvml
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = nvml.nvmlDeviceGetName(handle)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            values = {
                "name": name.decode() if isinstance(name, bytes) else str(name),
                "utilization": nvml.nvmlDeviceGetUtilizationRates(handle).gpu / 100,
                "used": float(memory.used),
                "total": float(memory.total),
                "temperature": float(
                    nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)
                ),
                "power": nvml.nvmlDeviceGetPowerUsage(handle) / 1000,  # milliwatts
            }
        except Exception as e:
            if index not in self._failed:
                log.warning("GPU metrics: GPU %d did not answer (NVML: %s); skipping it", index, e)
                self._failed.add(index)
            return None
        self._failed.discard(index)
        return values


def _load_nvml() -> Any | None:
    try:
        import pynvml
    except ImportError as e:
        log.info("GPU metrics: none (nvidia-ml-py is not installed: %s)", e)
        return None
    return pynvml


def register_gpu_metrics(registry: CollectorRegistry, nvml: Any | None = None) -> GpuCollector:
    """Add the GPU collector to ``registry``."""
    collector = GpuCollector(nvml)
    registry.register(collector)
    return collector
