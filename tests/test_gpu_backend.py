"""The CUDA backend's tree traversal against LightGBM, on the CPU build of the same function.

``volstream.model.trees.traverse`` is compiled for the CPU here and for CUDA
where there is a GPU; the kernel around it runs here under Numba's CUDA
simulator. Rows include values exactly on each tested split threshold, one
double and one float32 step either side of it, and NaN and zero values routed
by each missing-value type.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pytest

from volstream.kafka.embedded import free_port
from volstream.model.cuda import CudaScorer, cuda_problem
from volstream.model.trees import MISSING_NAN, MISSING_NONE, MISSING_ZERO, TreeArrays, predict_cpu

N_FEATURES = 13
Rows = npt.NDArray[np.float64]


def training_data(rows: int, seed: int) -> tuple[Rows, npt.NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, N_FEATURES))
    x[:, 5] = np.round(x[:, 5] * 3)  # many exact zeros and repeated values
    logit = x[:, 0] - 0.8 * x[:, 1] * x[:, 2] + 0.5 * np.sin(3 * x[:, 3]) + 0.3 * x[:, 5]
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    x[rng.random(rows) < 0.1, 1] = np.nan  # missing values the trees learn a direction for
    x[rng.random(rows) < 0.05, 4] = np.nan
    return x, y


def train(trees: int, **params: object) -> lgb.Booster:
    x, y = training_data(60_000, seed=3)
    settings = {"objective": "binary", "num_leaves": 31, "learning_rate": 0.05,
                "min_data_in_leaf": 20, "verbosity": -1, "seed": 3, "num_threads": 2,
                **params}  # fmt: skip
    return lgb.train(settings, lgb.Dataset(x, y), num_boost_round=trees)


@pytest.fixture(scope="module")
def forest() -> lgb.Booster:
    """500 trees; features 1 and 4 learned NaN splits, the others none."""
    return train(500)


@pytest.fixture(scope="module")
def zero_forest() -> lgb.Booster:
    """Zero counts as missing: splits of missing type Zero."""
    return train(60, zero_as_missing=True)


def edge_rows(arrays: TreeArrays, base: Rows, splits: int, seed: int) -> Rows:
    """Rows that sit on, and one double or float32 step either side of, ``splits`` thresholds."""
    rng = np.random.default_rng(seed)
    t, i = np.nonzero(arrays.left != -1)
    chosen = rng.choice(len(t), size=min(splits, len(t)), replace=False)
    rows = []
    for tree, node in zip(t[chosen], i[chosen], strict=True):
        feature, threshold = arrays.feature[tree, node], arrays.threshold[tree, node]
        with np.errstate(over="ignore"):
            single = np.float32(threshold)
        for value in (threshold, np.nextafter(threshold, -np.inf), np.nextafter(threshold, np.inf),
                      float(single), float(np.nextafter(single, np.float32(-np.inf))),
                      float(np.nextafter(single, np.float32(np.inf)))):  # fmt: skip
            row = base[rng.integers(len(base))].copy()
            row[feature] = value
            rows.append(row)
    return np.array(rows)


def missing_rows(base: Rows) -> Rows:
    """NaN, 0.0, -0.0 and tiny values in every feature."""
    rows = []
    for value in (np.nan, 0.0, -0.0, 1e-36, -1e-36, 1e-30):
        block = base[: N_FEATURES * 4].copy()
        for j in range(N_FEATURES):
            block[j * 4 : (j + 1) * 4, j] = value
        rows.append(block)
    return np.vstack(rows)


def test_missing_types_of_both_forests_are_covered(
    forest: lgb.Booster, zero_forest: lgb.Booster
) -> None:
    kinds = TreeArrays.from_booster(forest).missing
    assert {MISSING_NAN, MISSING_NONE} <= set(
        np.unique(kinds[TreeArrays.from_booster(forest).left != -1])
    )
    zero = TreeArrays.from_booster(zero_forest)
    assert MISSING_ZERO in set(np.unique(zero.missing[zero.left != -1]))


@pytest.mark.parametrize("which", ["forest", "zero_forest"])
def test_cpu_build_matches_lightgbm(which: str, request: pytest.FixtureRequest) -> None:
    booster: lgb.Booster = request.getfixturevalue(which)
    arrays = TreeArrays.from_booster(booster)
    assert arrays.trees == booster.num_trees()
    base, _ = training_data(100_000, seed=11)
    rows = np.vstack([base, edge_rows(arrays, base, 4000, seed=5), missing_rows(base)])
    assert len(rows) >= 100_000
    expected = booster.predict(rows)
    got = predict_cpu(arrays, rows)
    assert np.abs(got - expected).max() <= 1e-6
    assert np.array_equal(got, expected)  # the same double arithmetic: not even rounding differs


def test_float32_thresholds_would_be_wrong(forest: lgb.Booster) -> None:
    """Why the backend compares in double: float32 thresholds flip edge rows."""
    arrays = TreeArrays.from_booster(forest)
    base, _ = training_data(1000, seed=12)
    rows = edge_rows(arrays, base, 2000, seed=6)
    with np.errstate(over="ignore"):  # LightGBM writes huge thresholds for "everything"
        single = arrays.threshold.astype(np.float32).astype(np.float64)
    rounded = TreeArrays(**{**arrays.__dict__, "threshold": single})
    wrong = np.abs(predict_cpu(rounded, rows) - forest.predict(rows)).max()
    assert wrong > 1e-6


def test_the_kernel_matches_under_the_cuda_simulator(tmp_path: Path) -> None:
    """The CUDA kernel itself (launch, indexing, copies), run by Numba's CUDA simulator."""
    booster = train(20)
    booster.save_model(str(tmp_path / "model.txt"))
    base, _ = training_data(300, seed=13)
    rows = np.vstack([base, missing_rows(base)])
    np.save(tmp_path / "rows.npy", rows)
    script = (
        "import json, sys, numpy as np, lightgbm as lgb;"
        "from volstream.model.cuda import CudaScorer, cuda_problem;"
        "from volstream.model.trees import TreeArrays;"
        f"b = lgb.Booster(model_file={str(tmp_path / 'model.txt')!r});"
        f"x = np.load({str(tmp_path / 'rows.npy')!r});"
        "assert cuda_problem() is None, cuda_problem();"
        "got = CudaScorer(TreeArrays.from_booster(b)).predict_proba(x);"
        "print(json.dumps(float(np.abs(got - b.predict(x)).max())))"
    )
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) <= 1e-6


@pytest.mark.skipif(cuda_problem() is not None, reason=f"no GPU: {cuda_problem()}")
def test_on_a_gpu_a_million_rows_match(forest: lgb.Booster) -> None:
    arrays = TreeArrays.from_booster(forest)
    base, _ = training_data(1_000_000, seed=14)
    rows = np.vstack([base, edge_rows(arrays, base, 20_000, seed=7), missing_rows(base)])
    got = CudaScorer(arrays).predict_proba(rows)
    assert np.abs(got - forest.predict(rows)).max() <= 1e-6


class RecordingScorer:
    """Stands in for the GPU: records batch sizes (the routing is pure logic)."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def predict_proba(self, features: Rows) -> Rows:
        self.batches.append(len(features))
        return np.full(len(features), 0.5)


def test_auto_sends_large_batches_to_the_gpu_and_rows_to_the_cpu(small_registry: Path) -> None:
    from volstream.model.inference import CudaPredictor, LightGBMPredictor, load_predictor
    from volstream.settings import ModelSettings

    cpu = load_predictor(ModelSettings(registry=small_registry))
    assert isinstance(cpu, LightGBMPredictor)
    gpu = RecordingScorer()
    auto = CudaPredictor(gpu, cpu, crossover=1000)  # type: ignore[arg-type]
    assert auto.info.backend == "auto(cuda>=1000)"
    rows = np.zeros((999, N_FEATURES))
    assert np.array_equal(auto.predict_proba(rows), cpu.predict_proba(rows))
    assert auto.last_backend == "lightgbm-cpu" and gpu.batches == []
    assert np.all(auto.predict_proba(np.zeros((1000, N_FEATURES))) == 0.5)
    assert auto.last_backend == "cuda" and gpu.batches == [1000]
    assert auto.predict_one(rows[0]) == cpu.predict_one(rows[0])
    always = CudaPredictor(gpu, cpu, crossover=None)  # VOLSTREAM_DEVICE=cuda
    always.predict_proba(np.zeros((3, N_FEATURES)))
    assert always.info.backend == "cuda" and gpu.batches == [1000, 3]


def test_device_settings_without_a_gpu(
    small_registry: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from volstream.errors import ConfigError
    from volstream.model.inference import LightGBMPredictor, Placement, load_predictor
    from volstream.settings import DeviceSettings, ModelSettings

    if cuda_problem() is None:
        pytest.skip("this machine has a GPU")
    model = ModelSettings(registry=small_registry)
    with pytest.raises(ConfigError, match="^VOLSTREAM_DEVICE=cuda, but no CUDA driver"):
        load_predictor(model, Placement(DeviceSettings(device="cuda")))
    auto = Placement(DeviceSettings(device="auto"))
    with caplog.at_level(logging.INFO, logger="volstream.model.inference"):
        first = load_predictor(model, auto)
        load_predictor(model, auto)  # a reload: said once only
    assert isinstance(first, LightGBMPredictor)
    assert caplog.text.count("VOLSTREAM_DEVICE=auto: no CUDA driver") == 1


def test_cuda_without_a_gpu_stops_start_up_with_one_line(small_registry: Path) -> None:
    if cuda_problem() is None:
        pytest.skip("this machine has a GPU")
    result = subprocess.run(
        [sys.executable, "-m", "volstream", "api", "--registry", str(small_registry),
         "--port", str(free_port())],
        capture_output=True, text=True, timeout=60, env={**os.environ, "VOLSTREAM_DEVICE": "cuda"},
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "volstream: error: VOLSTREAM_DEVICE=cuda, but no CUDA driver or NVIDIA GPU found"
    )
