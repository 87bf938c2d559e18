"""Inference behind one interface: ``predict_proba(features) -> probabilities``.

Callers (the consumer, the API) hold a :class:`Predictor` and never know which
backend or variant is behind it. :func:`load_predictor` picks the version
(current, or pinned) and the variant (the LightGBM model or the baseline rule).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from volstream.errors import ConfigError
from volstream.metrics import BatchHistogram, batch_class
from volstream.model.baseline import BaselineRule
from volstream.model.cuda import CudaScorer, cuda_problem
from volstream.model.lightgbm_c import NativeBooster, SingleRow
from volstream.model.registry import ModelRegistry, ModelVersion
from volstream.settings import CPU_ONLY, DeviceSettings, ModelSettings

__all__ = [
    "BaselinePredictor",
    "CudaPredictor",
    "LightGBMPredictor",
    "ModelInfo",
    "Placement",
    "Predictor",
    "TimedPredictor",
    "load_predictor",
]

log = logging.getLogger(__name__)
Probabilities = npt.NDArray[np.float64]
CPU, CUDA, AUTO = "lightgbm-cpu", "cuda", "auto"  # backends, as model_info shows them


@dataclass(frozen=True)
class ModelInfo:
    """What serves: for logs, metrics and the prediction documents."""

    version: str
    variant: Literal["model", "baseline"]
    backend: str
    threshold: float
    load_seconds: float


class Predictor(Protocol):
    """Scores feature rows (columns in :data:`FEATURE_NAMES` order)."""

    info: ModelInfo

    def predict_proba(self, features: npt.NDArray[np.float64]) -> Probabilities:
        """Probability of a volatility spike for each row."""
        ...

    def predict_one(self, row: Sequence[float]) -> float:
        """The same for one row, without NumPy's per-call cost (an API request)."""
        ...


#: Up to this many rows go through LightGBM's single-row fast path, one by one.
FAST_PATH_MAX_ROWS = 8


class LightGBMPredictor:
    """LightGBM's own CPU inference, with a set number of threads.

    A few rows (an API request) take LightGBM's single-row C API, which skips
    ``Booster.predict``'s per-call set-up (docs/benchmarks.md, inference); both run
    the same trees in double precision and give the same numbers.
    """

    def __init__(self, booster: NativeBooster, info: ModelInfo, threads: int) -> None:
        self.info = info
        self._booster = booster
        self._threads = threads
        self._single_row = SingleRow(booster)

    def predict_proba(self, features: npt.NDArray[np.float64]) -> Probabilities:
        if len(features) == 0:
            return np.zeros(0)
        if len(features) <= FAST_PATH_MAX_ROWS:
            return np.array([self._single_row.predict(row) for row in features])
        return self._booster.predict(features, self._threads)

    def predict_one(self, row: Sequence[float]) -> float:
        return self._single_row.predict(row)


class BaselinePredictor:
    """The baseline rule of a model version."""

    def __init__(self, rule: BaselineRule, info: ModelInfo) -> None:
        self.info = info
        self._rule = rule

    def predict_proba(self, features: npt.NDArray[np.float64]) -> Probabilities:
        return self._rule.predict_proba(features)

    def predict_one(self, row: Sequence[float]) -> float:
        return float(self._rule.predict_proba(np.array([row]))[0])


class Placement:
    """Where LightGBM models run, from the device settings read at start-up.

    ``cpu``; ``cuda`` (a start-up error without a usable GPU); ``auto``, the GPU
    for batches of at least ``gpu_crossover_rows`` when one is usable, else the
    CPU, said once per placement (not on every reload).
    """

    def __init__(self, device: DeviceSettings) -> None:
        self.device = device
        self._said_no_gpu = False

    def place(self, cpu: LightGBMPredictor, model_file: Path) -> Predictor:
        device = self.device.device
        if device == "cpu":
            return cpu
        problem = cuda_problem()
        if problem:
            if device == "cuda":
                msg = f"VOLSTREAM_DEVICE=cuda, but {problem}"
                raise ConfigError(msg)
            if not self._said_no_gpu:
                log.info("VOLSTREAM_DEVICE=auto: %s; inference runs on the CPU", problem)
                self._said_no_gpu = True
            return cpu
        crossover = self.device.gpu_crossover_rows if device == "auto" else None
        import lightgbm as lgb  # the tree dump; with Numba, only where a GPU serves

        from volstream.model.trees import TreeArrays

        booster = lgb.Booster(model_file=str(model_file))
        return CudaPredictor(CudaScorer(TreeArrays.from_booster(booster)), cpu, crossover)


def load_predictor(
    settings: ModelSettings, placement: Placement | None = None, purpose: str = "serving"
) -> Predictor:
    """The predictor the settings ask for; :class:`ModelError` with one line if it cannot be.

    ``placement`` says where a LightGBM model runs (the CPU without one); ``purpose``
    what it is loaded for, in the log line ("serving", "shadow").
    """
    placement = placement or Placement(CPU_ONLY)
    registry = ModelRegistry(settings.registry)
    version = registry.serving(settings.version)
    version.check_features()
    started = time.perf_counter()
    predictor: Predictor
    if settings.variant == "baseline":
        rule = BaselineRule.from_dict(version.metadata["baseline"])
        threshold = float(version.metadata["baseline"]["threshold"])
        info = ModelInfo(version.name, "baseline", "rule", threshold, 0.0)
        predictor = BaselinePredictor(rule, info)
    else:
        booster = _load_booster(version)
        info = ModelInfo(version.name, "model", CPU, float(version.metadata["threshold"]), 0.0)
        cpu = LightGBMPredictor(booster, info, settings.threads)
        predictor = placement.place(cpu, version.model_file)
    predictor.info = replace(predictor.info, load_seconds=time.perf_counter() - started)
    info = predictor.info
    log.info(
        "%s model %s (%s, %s) threshold %.4f, loaded in %.3f s",
        purpose, info.version, info.variant, info.backend, info.threshold, info.load_seconds,
    )  # fmt: skip
    return predictor


class CudaPredictor:
    """The CUDA backend, with LightGBM on the CPU for batches under the crossover.

    One row (``predict_one``, an API request) always stays on the CPU: a GPU
    round trip costs more than scoring it. ``last_backend`` names the backend
    of the last batch, for the inference-time metric.
    """

    def __init__(self, scorer: CudaScorer, cpu: LightGBMPredictor, crossover: int | None) -> None:
        backend = CUDA if crossover is None else f"{AUTO}({CUDA}>={crossover})"
        self.info = replace(cpu.info, backend=backend)
        self.last_backend = CUDA
        self._scorer = scorer
        self._cpu = cpu
        self._crossover = crossover

    def predict_proba(self, features: npt.NDArray[np.float64]) -> Probabilities:
        if self._crossover is not None and len(features) < self._crossover:
            self.last_backend = CPU
            return self._cpu.predict_proba(features)
        self.last_backend = CUDA
        return self._scorer.predict_proba(features)

    def predict_one(self, row: Sequence[float]) -> float:
        self.last_backend = CPU
        return self._cpu.predict_one(row)


class TimedPredictor:
    """Any predictor, each call timed into a histogram by backend and batch size class."""

    def __init__(self, inner: Predictor, histogram: BatchHistogram) -> None:
        self.inner = inner
        self.info = inner.info
        self._histogram = histogram

    def predict_proba(self, features: npt.NDArray[np.float64]) -> Probabilities:
        started = time.perf_counter()
        probabilities = self.inner.predict_proba(features)
        self._observe(started, len(features))
        return probabilities

    def predict_one(self, row: Sequence[float]) -> float:
        started = time.perf_counter()
        probability = self.inner.predict_one(row)
        self._observe(started, 1)
        return probability

    def _observe(self, started: float, rows: int) -> None:
        backend = getattr(self.inner, "last_backend", self.info.backend)
        self._histogram.observe(time.perf_counter() - started, backend, batch_class(rows))


def _load_booster(version: ModelVersion) -> NativeBooster:
    booster = NativeBooster(version.model_file)
    version.check_features(booster.feature_names())
    return booster
