from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from volstream.errors import ModelError
from volstream.features import FEATURE_NAMES
from volstream.model.inference import load_predictor
from volstream.model.lightgbm_c import NativeBooster, SingleRow
from volstream.model.registry import ModelRegistry
from volstream.model.training import History, future_volatility, split_by_time, train
from volstream.settings import ModelSettings, TrainSettings


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """The default training run, once for the module."""
    registry = tmp_path_factory.mktemp("models")
    version = train(TrainSettings(), ModelSettings(registry=registry))
    return registry, version.metadata


def test_model_beats_baseline_without_a_leak(trained: tuple[Path, dict]) -> None:
    _, metadata = trained
    test = metadata["metrics"]["test"]
    assert test["model"]["pr_auc"] > test["baseline"]["pr_auc"] + 0.05
    assert test["model"]["pr_auc"] < 0.9, "a PR-AUC near 1 would mean a leak"
    assert test["model"]["brier"] < test["baseline"]["brier"]
    assert 0.05 < test["model"]["positive_share"] < 0.3


def test_same_seed_reproduces_the_metrics(trained: tuple[Path, dict], tmp_path: Path) -> None:
    _, metadata = trained
    again = train(TrainSettings(), ModelSettings(registry=tmp_path)).metadata
    assert again["metrics"] == metadata["metrics"]
    assert again["data"]["fingerprint"] == metadata["data"]["fingerprint"]
    assert again["threshold"] == metadata["threshold"]


def test_version_files_and_metadata(trained: tuple[Path, dict]) -> None:
    registry, metadata = trained
    version = ModelRegistry(registry).current()
    assert sorted(p.name for p in version.path.iterdir()) == [
        "drift_null.json", "model.json", "model.txt", "reference.parquet",
    ]  # fmt: skip
    assert not list(registry.rglob("*.pkl")) and not list(registry.rglob("*.pickle"))
    assert metadata["feature_names"] == list(FEATURE_NAMES)
    assert metadata["label"]["horizon_seconds"] == 60
    assert set(metadata["libraries"]) >= {"lightgbm", "numpy", "volstream"}
    import pandas as pd

    reference = pd.read_parquet(version.reference_file)
    assert list(reference.columns) == [*FEATURE_NAMES, "probability"]
    assert len(reference) == 50_000


def test_predictors_for_model_and_baseline(trained: tuple[Path, dict]) -> None:
    registry, metadata = trained
    rows = np.random.default_rng(0).random((50, len(FEATURE_NAMES))) * 0.01
    model = load_predictor(ModelSettings(registry=registry))
    baseline = load_predictor(ModelSettings(registry=registry, variant="baseline"))
    assert model.info.variant == "model" and baseline.info.variant == "baseline"
    assert model.info.threshold == metadata["threshold"]
    for predictor in (model, baseline):
        p = predictor.predict_proba(rows)
        assert p.shape == (50,) and np.all((p >= 0) & (p <= 1))
    assert model.predict_proba(rows[:0]).shape == (0,)
    assert not np.allclose(model.predict_proba(rows), baseline.predict_proba(rows))


def test_serving_scores_as_lightgbms_own_package_does(trained: tuple[Path, dict]) -> None:
    """Serving calls the C library directly; the package that trained the model agrees."""
    import lightgbm as lgb

    version = ModelRegistry(trained[0]).current()
    rows = np.random.default_rng(5).random((2000, len(FEATURE_NAMES))) * 0.01
    rows[::7, 3] = np.nan
    expected = lgb.Booster(model_file=str(version.model_file)).predict(rows)
    booster = NativeBooster(version.model_file)
    assert booster.feature_names() == list(FEATURE_NAMES)
    np.testing.assert_array_equal(booster.predict(rows, threads=2), expected)
    single = SingleRow(booster)
    assert [single.predict(row) for row in rows[:20]] == pytest.approx(expected[:20], abs=1e-12)
    model = load_predictor(ModelSettings(registry=trained[0]))
    np.testing.assert_array_equal(model.predict_proba(rows), expected)
    assert model.predict_proba(rows[:3]) == pytest.approx(expected[:3], abs=1e-12)  # fast path


def test_a_damaged_model_file_is_a_clear_error(tmp_path: Path) -> None:
    damaged = tmp_path / "model.txt"
    damaged.write_text("tree\nversion=v4\nnot a model\n")
    with pytest.raises(ModelError, match=r"cannot load .*model.txt: LightGBM: "):
        NativeBooster(damaged)


def test_loading_a_model_with_other_features_fails_clearly(
    trained: tuple[Path, dict], tmp_path: Path
) -> None:
    registry, _ = trained
    copy = tmp_path / "models"
    shutil.copytree(registry, copy)
    current = ModelRegistry(copy).current()
    metadata = json.loads((current.path / "model.json").read_text())
    metadata["feature_names"] = [*FEATURE_NAMES[:-1], "order_flow_5s"]
    (current.path / "model.json").write_text(json.dumps(metadata))
    with pytest.raises(ModelError, match=r"was trained on features .*order_flow_5s.* retrain it"):
        load_predictor(ModelSettings(registry=copy))


def test_registry_promote_and_rollback(trained: tuple[Path, dict], tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    with pytest.raises(ModelError, match="no current model"):
        registry.current()
    first = ModelRegistry(trained[0]).current()
    for name in ("v1", "v2"):
        shutil.copytree(first.path, registry.root / name)
    registry.promote("v1")
    with pytest.raises(ModelError, match="nothing to roll back to"):
        registry.rollback()
    registry.promote("v2")
    assert registry.current().name == "v2"
    assert registry.rollback().name == "v1"
    assert registry.history() == ["v1"]
    with pytest.raises(ModelError, match="no model version 'v9'"):
        registry.promote("v9")
    assert load_predictor(ModelSettings(registry=registry.root, version="v2")).info.version == "v2"


def test_models_commands(trained: tuple[Path, dict], tmp_path: Path) -> None:
    copy = tmp_path / "models"
    shutil.copytree(trained[0], copy)
    store = ModelRegistry(copy)
    original = store.current().name
    shutil.copytree(store.current().path, copy / "v-second")
    store.promote("v-second")

    def volstream(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "volstream", *args, "--registry", str(copy)],
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    listed = json.loads(volstream("models", "list", "--json").stdout)
    assert [row["current"] for row in listed if row["version"] == "v-second"] == [True]
    rolled = volstream("models", "rollback")
    assert rolled.returncode == 0 and original in rolled.stdout
    assert store.current().name == original
    again = volstream("models", "rollback")
    assert again.returncode == 1
    assert again.stderr.strip() == (
        "volstream: error: nothing to roll back to: fewer than two promotions in the history"
    )
    shown = json.loads(volstream("models", "show", "current").stdout)
    assert shown["version"] == original


def test_train_help_documents_the_options() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "volstream", "train", "--help"],
        capture_output=True, text=True, timeout=60, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0
    for option in ("--duration", "--horizon", "--quantile", "--seed", "--file", "--no-promote"):
        assert option in result.stdout
    assert "VOLSTREAM_TRAIN_HORIZON_SECONDS" in result.stdout


def test_future_volatility_and_split_keep_parts_apart() -> None:
    times = np.arange(0, 3_600_000, 1000, dtype=np.int64)  # one symbol, a tick a second, 1 h
    returns = np.full(len(times), 0.001)
    features = np.zeros((len(times), len(FEATURE_NAMES)))
    features[:, FEATURE_NAMES.index("log_return")] = returns
    history = History(features, times, np.zeros(len(times), dtype=np.int64), "x", "test")
    future = future_volatility(history, 60_000)
    assert future[0] == pytest.approx(np.sqrt(60 * 0.001**2))  # ticks at 1..60 s
    assert np.isnan(future[-1]) and not np.isnan(future[len(times) - 61])
    parts = split_by_time(times, TrainSettings(validation_share=0.2, test_share=0.2), 60_000)
    assert times[parts["validation"]].min() - times[parts["train"]].max() >= 60_000
    assert times[parts["test"]].min() - times[parts["validation"]].max() >= 60_000
    with pytest.raises(ModelError, match="too short"):
        split_by_time(times[:100], TrainSettings(), 60_000)


def test_training_on_replayed_files_matches_the_synthetic_run(tmp_path: Path) -> None:
    """Files of the same ticks give the same features, labels and metrics: no skew in training."""
    import pandas as pd

    from volstream.model.training import open_history

    synthetic = TrainSettings(duration_seconds=3600, symbols=10, tick_rate=60)
    source, steps, _ = open_history(synthetic)
    frames = []
    for number, batch in enumerate(source.batches(), start=1):
        frames.append(pd.DataFrame({
            "symbol": batch.symbol, "event_time_ms": batch.event_time_ms, "price": batch.price,
            "size": batch.size, "bid": batch.bid, "ask": batch.ask, "bid_size": batch.bid_size,
            "ask_size": batch.ask_size, "side": np.where(batch.is_buy, "buy", "sell"),
            "trade_id": batch.trade_id, "sequence": batch.sequence,
        }))  # fmt: skip
        if number == steps:
            break
    path = tmp_path / "history.parquet"
    pd.concat(frames).to_parquet(path)
    from_market = train(synthetic, ModelSettings(registry=tmp_path / "a")).metadata
    replayed = TrainSettings(source="replay", files=str(path))
    from_files = train(replayed, ModelSettings(registry=tmp_path / "b")).metadata
    assert from_files["data"]["fingerprint"] == from_market["data"]["fingerprint"]
    assert from_files["metrics"] == from_market["metrics"]
