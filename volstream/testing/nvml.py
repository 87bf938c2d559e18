"""A fake of the parts of pynvml the GPU metrics call, for tests on a machine with no GPU."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

__all__ = ["FakeNvml"]


class FakeNvml:
    """The parts of pynvml the collector calls, with fixed values for two GPUs."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(self, fail_gpu: int | None = None) -> None:
        self.fail_gpu = fail_gpu

    def nvmlInit(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if index == self.fail_gpu:
            msg = "GPU is lost"
            raise RuntimeError(msg)
        return index

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        return SimpleNamespace(gpu=[37, 90][handle], memory=10)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        return SimpleNamespace(used=[2, 60][handle] * 2**30, total=80 * 2**30)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        return [41, 77][handle]

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return [123_456, 650_000][handle]  # milliwatts
