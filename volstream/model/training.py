"""``volstream train``: replay history through the feature engine, label it, train, evaluate.

1. Replay the ticks through the same :class:`FeatureEngine` the consumer runs.
2. Label each tick: does the realized volatility of the symbol's mid log returns
   over the next H seconds exceed T? T is a quantile of that volatility over the
   training period only.
3. Split by time into train / validation / test, leaving H seconds between the
   parts so that no label reaches into the next part.
4. Train LightGBM (early stopping on validation), choose the decision threshold
   that maximises F1 on validation, fit the baseline rule on the same rows, and
   score both on the test part.
5. Write a registry version: the text model, model.json, a reference sample, and
   the drift scores of normal windows of the history (:mod:`volstream.drift.calibration`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    precision_recall_curve,
    precision_recall_fscore_support,
)

import volstream
from volstream.drift.calibration import Calibration, calibrate
from volstream.errors import ModelError
from volstream.feature_engine import FeatureEngine
from volstream.features import FEATURE_NAMES, LONGEST_MS
from volstream.labels import realized_volatility
from volstream.model.baseline import BaselineRule
from volstream.model.registry import (
    DRIFT_NULL_FILE,
    METADATA_FILE,
    MODEL_FILE,
    REFERENCE_FILE,
    ModelRegistry,
    ModelVersion,
)
from volstream.settings import (
    DriftSettings,
    ModelSettings,
    TrainSettings,
    synthetic_symbols,
)
from volstream.sources import TickSource
from volstream.sources.files import FileReplay
from volstream.sources.synthetic import MarketConfig, SyntheticMarket

__all__ = ["History", "replay_history", "train"]

log = logging.getLogger(__name__)

#: Synthetic training history starts here, so the same settings give the same data.
SYNTHETIC_EPOCH_MS: Final = 1_767_225_600_000  # 2026-01-01T00:00:00Z
EARLY_STOPPING_ROUNDS: Final = 50
Report = Callable[[str, int, int | None], None]
FloatArray = npt.NDArray[np.float64]


def _quiet(stage: str, done: int, total: int | None) -> None:
    return None


@dataclass
class History:
    """Feature rows of a replayed history, with what labelling needs."""

    features: FloatArray
    times_ms: npt.NDArray[np.int64]
    symbol_ids: npt.NDArray[np.int64]
    fingerprint: str
    description: str

    def __len__(self) -> int:
        return len(self.times_ms)


def open_history(settings: TrainSettings) -> tuple[TickSource, int | None, str]:
    """The source of the history, how many batches it has (if known), and a description."""
    if settings.source == "replay":
        return FileReplay([Path(f) for f in settings.files]), None, f"files {settings.files}"
    config = MarketConfig(
        symbols=synthetic_symbols(settings.symbols),
        start_ms=SYNTHETIC_EPOCH_MS,
        tick_rate=settings.tick_rate,
        seed=settings.seed,
    )
    description = (
        f"synthetic: {settings.duration_seconds:g} s, {settings.symbols} symbols, "
        f"{settings.tick_rate:g} ticks/s, seed {settings.seed}"
    )
    return SyntheticMarket(config), int(settings.duration_seconds), description


def replay_history(settings: TrainSettings, report: Report = _quiet) -> History:
    """Every tick of the history through the feature engine, in order."""
    source, batches, description = open_history(settings)
    engine = FeatureEngine()
    fingerprinted = ("event_time_ms", "price", "bid", "ask", "trade_id")
    digests = {column: hashlib.sha256() for column in fingerprinted}  # one per column: batch-free
    features, times, symbols = [], [], []
    for number, batch in enumerate(source.batches(), start=1):
        features.append(engine.update(batch))
        times.append(batch.event_time_ms)
        symbols.append(batch.symbol)
        for column, digest in digests.items():
            digest.update(getattr(batch, column).tobytes())
        report("replaying history", number, batches)
        if batches is not None and number >= batches:
            break
    if not features:
        msg = f"the history is empty ({description})"
        raise ModelError(msg)
    slots = {symbol: i for i, symbol in enumerate(engine.symbols)}
    symbol_ids = np.fromiter(
        (slots[s] for batch in symbols for s in batch), dtype=np.int64, count=sum(map(len, symbols))
    )
    fingerprint = hashlib.sha256(b"".join(d.digest() for d in digests.values())).hexdigest()
    return History(np.vstack(features), np.concatenate(times), symbol_ids, fingerprint, description)


def future_volatility(history: History, horizon_ms: int) -> FloatArray:
    """Realized volatility of each tick's symbol over (t, t + H]; NaN past the data's end.

    The one definition of the label, shared with the live outcomes (``volstream.labels``).
    """
    log_returns = history.features[:, FEATURE_NAMES.index("log_return")]
    return realized_volatility(history.symbol_ids, history.times_ms, log_returns, horizon_ms)


def split_by_time(
    times_ms: npt.NDArray[np.int64], settings: TrainSettings, horizon_ms: int
) -> dict[str, npt.NDArray[np.int64]]:
    """Row indices of train, validation and test, in time order, H apart."""
    first, last = int(times_ms.min()), int(times_ms.max()) - horizon_ms
    span = last - first
    train_end = first + span * (1 - settings.validation_share - settings.test_share)
    validation_end = first + span * (1 - settings.test_share)
    parts = {
        "train": (times_ms <= train_end - horizon_ms),
        "validation": (times_ms >= train_end) & (times_ms <= validation_end - horizon_ms),
        "test": (times_ms >= validation_end) & (times_ms <= last),
    }
    indices = {name: np.flatnonzero(mask) for name, mask in parts.items()}
    short = [name for name, rows in indices.items() if len(rows) < 100]
    if short:
        msg = (
            f"the history is too short to split: {', '.join(short)} would have under 100 rows; "
            f"use a longer history (at least several times the {horizon_ms / 1000:g} s horizon)"
        )
        raise ModelError(msg)
    return indices


def evenly(rows: npt.NDArray[np.int64], most: int) -> npt.NDArray[np.int64]:
    """At most ``most`` of ``rows``, evenly spaced (ticks next to each other are near copies)."""
    if len(rows) <= most:
        return rows
    return rows[np.linspace(0, len(rows) - 1, most).astype(np.int64)]


def best_f1_threshold(labels: npt.NDArray[np.bool_], probabilities: FloatArray) -> float:
    """The probability threshold with the highest F1."""
    precision, recall, thresholds = precision_recall_curve(labels, probabilities)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))])


def score(
    labels: npt.NDArray[np.bool_], probabilities: FloatArray, threshold: float
) -> dict[str, float]:
    """PR-AUC, precision, recall, F1 at the threshold, and Brier score."""
    predicted = probabilities >= threshold
    precision, recall, f1, _ = precision_recall_fscore_support(
        labels, predicted, average="binary", zero_division=0
    )
    return {
        "pr_auc": float(average_precision_score(labels, probabilities)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "brier": float(brier_score_loss(labels, probabilities)),
        "positive_share": float(labels.mean()),
        "rows": int(len(labels)),
    }


def train(
    settings: TrainSettings,
    model: ModelSettings,
    report: Report = _quiet,
    drift: DriftSettings | None = None,
) -> ModelVersion:
    """Train, evaluate and register a new model version (promoted when settings say so).

    ``drift`` sizes the drift calibration's windows (default: the defaults; the CLI
    passes the environment's).
    """
    history = replay_history(settings, report)
    horizon_ms = int(settings.horizon_seconds * 1000)
    future = future_volatility(history, horizon_ms)
    parts = split_by_time(history.times_ms, settings, horizon_ms)
    level = float(np.quantile(future[parts["train"]], settings.label_quantile))
    labels = future > level
    for name, rows in parts.items():
        if not labels[rows].any() or labels[rows].all():
            msg = (
                f"the {name} part has only one class of label; use a longer or more varied history"
            )
            raise ModelError(msg)
    train_rows = evenly(parts["train"], settings.max_train_rows)
    validation_rows = evenly(parts["validation"], settings.max_train_rows)
    x, y = history.features, labels

    booster = _fit(
        settings, x[train_rows], y[train_rows], x[validation_rows], y[validation_rows], report
    )
    threshold = best_f1_threshold(y[validation_rows], _predict(booster, x[validation_rows]))
    rule = BaselineRule.fit(x[train_rows], y[train_rows])
    rule_threshold = best_f1_threshold(y[validation_rows], rule.predict_proba(x[validation_rows]))
    test = parts["test"]
    metrics = {
        "model": score(y[test], _predict(booster, x[test]), threshold),
        "baseline": score(y[test], rule.predict_proba(x[test]), rule_threshold),
    }
    model_auc, baseline_auc = metrics["model"]["pr_auc"], metrics["baseline"]["pr_auc"]
    log.info("test PR-AUC: model %.4f, baseline %.4f", model_auc, baseline_auc)
    created = datetime.now(UTC)
    metadata = {
        "created_at": created.isoformat(),
        "feature_names": list(FEATURE_NAMES),
        "label": {
            "definition": "realized volatility of the symbol's mid log returns over the next "
            "horizon_seconds exceeds level",
            "horizon_seconds": settings.horizon_seconds,
            "quantile": settings.label_quantile,
            "level": level,
        },
        "threshold": threshold,
        "metrics": {"test": metrics},
        "baseline": {**rule.to_dict(), "threshold": rule_threshold},
        "data": {
            "description": history.description,
            "ticks": len(history),
            "fingerprint": history.fingerprint,
            "start_ms": int(history.times_ms.min()),
            "end_ms": int(history.times_ms.max()),
            "rows": {name: int(len(rows)) for name, rows in parts.items()},
            "train_rows_used": int(len(train_rows)),
        },
        "training": {"best_iteration": booster.best_iteration, **_params(settings)},
        "libraries": _libraries(),
    }
    name = _version_name(created, history.fingerprint)
    reference = _reference(settings, x, history.times_ms, parts["train"], booster)
    null = _drift_null(
        history, booster, reference, drift or DriftSettings.model_validate({}), report
    )

    def write(directory: Path) -> None:
        booster.save_model(str(directory / MODEL_FILE))
        (directory / METADATA_FILE).write_text(json.dumps({"version": name, **metadata}, indent=2))
        reference.to_parquet(directory / REFERENCE_FILE, index=False)
        if null is not None:
            null.save(directory / DRIFT_NULL_FILE)

    registry = ModelRegistry(model.registry)
    version = registry.add(name, write)
    log.info("model %s written to %s", name, version.path)
    if settings.promote:
        registry.promote(name)
        log.info("model %s is now current", name)
    return version


def _predict(booster: lgb.Booster, features: FloatArray) -> FloatArray:
    return np.asarray(booster.predict(features), dtype=np.float64)


def _version_name(created: datetime, fingerprint: str) -> str:
    suffix = hashlib.sha256(f"{created.isoformat()} {fingerprint}".encode()).hexdigest()[:6]
    return f"v{created:%Y%m%d-%H%M%S}-{suffix}"


def _params(settings: TrainSettings) -> dict[str, Any]:
    return {
        "objective": "binary",
        "learning_rate": settings.learning_rate,
        "num_leaves": settings.num_leaves,
        # Strong regularisation: ticks are autocorrelated, and a model free to split finely
        # learns which symbols happened to be volatile in the training period.
        "min_data_in_leaf": 1000,
        "lambda_l2": 10.0,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "metric": "binary_logloss",  # smoother than PR-AUC on validation: steadier early stopping
        "seed": settings.seed,
        "deterministic": True,  # with force_row_wise: the same seed gives the same model
        "force_row_wise": True,
        "num_threads": settings.threads,
        "verbosity": -1,
    }


def _fit(
    settings: TrainSettings,
    x_train: FloatArray,
    y_train: npt.NDArray[np.bool_],
    x_validation: FloatArray,
    y_validation: npt.NDArray[np.bool_],
    report: Report,
) -> lgb.Booster:
    train_set = lgb.Dataset(x_train, y_train, feature_name=list(FEATURE_NAMES), free_raw_data=False)
    validation_set = lgb.Dataset(x_validation, y_validation, reference=train_set)

    def progress(env: lgb.callback.CallbackEnv) -> None:
        report("training", env.iteration + 1, settings.rounds)

    return lgb.train(
        _params(settings),
        train_set,
        num_boost_round=settings.rounds,
        valid_sets=[validation_set],
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False), progress],
    )


def _reference(
    settings: TrainSettings,
    features: FloatArray,
    times_ms: npt.NDArray[np.int64],
    train_rows: npt.NDArray[np.int64],
    booster: lgb.Booster,
) -> pd.DataFrame:
    """A sample of training rows and their predictions, for drift checks.

    The first minute of the history is left out: the rolling windows are still
    filling, a state a running stream is not in.
    """
    warm = train_rows[times_ms[train_rows] >= times_ms.min() + LONGEST_MS]
    rows = warm if len(warm) >= 100 else train_rows  # a very short history keeps every row
    rng = np.random.default_rng(settings.seed)
    chosen = np.sort(rng.choice(rows, size=min(settings.reference_rows, len(rows)), replace=False))
    sample = pd.DataFrame(features[chosen], columns=list(FEATURE_NAMES))
    sample["probability"] = _predict(booster, features[chosen])
    return sample


def _drift_null(
    history: History,
    booster: lgb.Booster,
    reference: pd.DataFrame,
    drift: DriftSettings,
    report: Report,
) -> Calibration | None:
    """Drift scores of windows of the live window's size cut from the warm history.

    A live window of ``window_minutes`` holds as many rows as that span of the
    history (capped at ``max_rows``), unless ``window_rows`` sets it.
    """
    times = history.times_ms
    warm = int(np.searchsorted(times, times.min() + LONGEST_MS))
    span_seconds = max((int(times.max()) - int(times.min())) / 1000, 1.0)
    per_minute = len(history) / span_seconds * 60
    window_rows = drift.window_rows or int(drift.window_minutes * per_minute)
    frame = pd.DataFrame(history.features[warm:], columns=list(FEATURE_NAMES))
    frame["probability"] = _predict(booster, history.features[warm:])
    return calibrate(frame, reference, min(window_rows, drift.max_rows), drift.min_rows,
                     lambda done, total: report("calibrating drift", done, total))  # fmt: skip


def _libraries() -> dict[str, str]:
    return {
        "volstream": volstream.__version__,
        "lightgbm": lgb.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
    }
