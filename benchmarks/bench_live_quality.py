"""How much a 15-minute window of live quality varies on the training market.

The default model (2 h of 30 symbols at 150 ticks/s, seed 7), then 20 other
paths of the same market (path seeds 1-20), 16 simulated minutes each,
replayed through the feature engine and labelled by ``volstream.labels``:
what ``volstream evaluate`` would report over its 15-minute window (the
integration tests show the live figure equals this offline one on the same
ticks). Prints the model's and the baseline's PR-AUC per path, and their spread.

    .venv/bin/python -m benchmarks.bench_live_quality [--paths 20]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score

from volstream.feature_engine import FeatureEngine
from volstream.labels import realized_volatility
from volstream.model.inference import load_predictor
from volstream.model.registry import ModelRegistry
from volstream.model.training import train
from volstream.settings import ModelSettings, TrainSettings, synthetic_symbols
from volstream.sources.synthetic import MarketConfig, SyntheticMarket

MINUTES = 16  # the first minute fills the rolling windows; then a 15-minute window


def path_quality(
    model: ModelSettings, settings: TrainSettings, path_seed: int
) -> tuple[float, ...]:
    market = SyntheticMarket(MarketConfig(symbols=synthetic_symbols(settings.symbols),
                                          start_ms=0, tick_rate=settings.tick_rate,
                                          seed=settings.seed, path_seed=path_seed))  # fmt: skip
    engine, features, times, symbols, ids = FeatureEngine(), [], [], [], {}
    for second, batch in enumerate(market.batches()):
        features.append(engine.update(batch))
        times.append(batch.event_time_ms)
        symbols.append([ids.setdefault(s, len(ids)) for s in batch.symbol])
        if second >= MINUTES * 60 + 5:
            break
    x, t = np.vstack(features), np.concatenate(times)
    future = realized_volatility(np.concatenate(symbols), t, x[:, 0], 60_000)
    window = ~np.isnan(future) & (t >= 60_000) & (t < MINUTES * 60_000)
    level = ModelRegistry(model.registry).current().metadata["label"]["level"]
    labels = future[window] > level
    scores = [
        average_precision_score(
            labels, load_predictor(model.model_copy(update={"variant": v})).predict_proba(x[window])
        )
        for v in ("model", "baseline")
    ]
    return float(labels.mean()), *scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paths", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = TrainSettings()
    model = ModelSettings(registry=Path(tempfile.mkdtemp(prefix="bench-models-")))
    version = train(settings, model)
    test = version.metadata["metrics"]["test"]["model"]["pr_auc"]
    print(f"model {version.name}: test PR-AUC {test:.3f}\n")
    print("| path seed | spike share | model PR-AUC | baseline PR-AUC |")
    print("| ---: | ---: | ---: | ---: |")
    models, within = [], 0
    for seed in range(1, args.paths + 1):
        share, ours, baseline = path_quality(model, settings, seed)
        models.append(ours)
        within += abs(ours - test) < 0.05
        print(f"| {seed} | {share:.3f} | {ours:.3f} | {baseline:.3f} |")
    print(f"\nmodel PR-AUC over 15 minutes: median {statistics.median(models):.3f}, "
          f"range {min(models):.3f}-{max(models):.3f}; within 0.05 of the test figure on "
          f"{within} of {args.paths} paths")  # fmt: skip


if __name__ == "__main__":
    main()
