"""Drift's false-alarm rate on the training market, and its power on a changed one.

The demo's model (`volstream train`'s defaults: two hours of a 30-symbol
market, seed 7) is trained with its drift calibration. Then, for each path seed,
another path of the same market streams for ``--passes`` minutes after its
15-minute window has filled, and a drift pass judges the window every minute of
event time, as the demo's job does (the newest ``VOLSTREAM_DRIFT_MAX_ROWS`` of
the last ``VOLSTREAM_DRIFT_WINDOW_MINUTES``). Each pass is the real check:
Evidently scores every column against the calibrated thresholds. The same is
done with every volatility tripled.

Features and predictions are computed in-process (the consumer's feature
engine and the model), not sent through a broker: what is measured is the
alarm, not the transport.

    .venv/bin/python -m benchmarks.bench_drift_alarms [--paths 8,9,10] [--passes 30]
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from benchmarks.common import row
from volstream.drift.check import DriftResult, load_calibration, load_reference, run_check
from volstream.drift.window import Window
from volstream.feature_engine import FeatureEngine
from volstream.model.inference import load_predictor
from volstream.model.registry import ModelVersion
from volstream.model.training import SYNTHETIC_EPOCH_MS, train
from volstream.settings import (
    DriftSettings,
    ModelSettings,
    TrainSettings,
    load,
    synthetic_symbols,
)
from volstream.sources.synthetic import MarketConfig, SyntheticMarket

PASS_EVERY_MS = 60_000  # the demo's drift interval


@dataclass(frozen=True)
class Stream:
    """One streamed path: its name, and the market's path seed and volatility scale."""

    name: str
    path_seed: int
    volatility_scale: float


def stream(training: TrainSettings, path: Stream, seconds: int, model: ModelSettings) -> Window:
    """``seconds`` of the path through the feature engine and the model, as a window."""
    market = SyntheticMarket(MarketConfig(
        symbols=synthetic_symbols(training.symbols), start_ms=SYNTHETIC_EPOCH_MS,
        tick_rate=training.tick_rate, seed=training.seed, path_seed=path.path_seed,
        volatility_scale=path.volatility_scale,
    ))  # fmt: skip
    engine, predictor = FeatureEngine(), load_predictor(model)
    features, times = [], []
    for number, batch in enumerate(market.batches(), start=1):
        features.append(engine.update(batch))
        times.append(batch.event_time_ms)
        if number >= seconds:
            break
    rows = np.vstack(features)
    event_time_ms: npt.NDArray[np.int64] = np.concatenate(times)
    versions = np.full(len(rows), predictor.info.version, dtype=object)
    return Window(rows, predictor.predict_proba(rows), event_time_ms, versions)


def passes(window: Window, settings: DriftSettings, count: int) -> Iterator[Window]:
    """The windows of ``count`` passes a minute apart, the first once the window is full."""
    span_ms = int(settings.window_minutes * 60_000)
    first = int(window.event_time_ms.min()) + span_ms
    for number in range(count):
        end = first + number * PASS_EVERY_MS
        inside = (window.event_time_ms > end - span_ms) & (window.event_time_ms <= end)
        chosen = Window(window.features[inside], window.probability[inside],
                        window.event_time_ms[inside], window.model_versions[inside])  # fmt: skip
        yield chosen.newest(settings.max_rows)


def judge(version: ModelVersion, path: Stream, window: Window, settings: DriftSettings,
          count: int) -> list[DriftResult]:  # fmt: skip
    reference, calibration = load_reference(version), load_calibration(version)
    results = []
    for number, current in enumerate(passes(window, settings, count), start=1):
        result = run_check(current, reference, version.name, settings, calibration)
        drifted = [name for name, c in result.features.items() if c.detected]
        verdict = "yes" if result.dataset_drift else "no"
        print(f"  {path.name} pass {number}: dataset drift {verdict}, {len(drifted)} features "
              f"({', '.join(drifted) or 'none'}), {result.current_rows:,} rows",
              flush=True)  # fmt: skip
        results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paths", default="8", help="path seeds, comma-separated")
    parser.add_argument("--passes", type=int, default=30, help="passes per normal path")
    parser.add_argument("--changed-passes", type=int, default=10, help="passes at volatility x3")
    args = parser.parse_args()
    training, settings = TrainSettings(), load(DriftSettings)
    model = ModelSettings(registry=Path(tempfile.mkdtemp(prefix="bench-alarms-")) / "models")
    print("training the demo's model, with its drift calibration ...", flush=True)
    version = train(training, model, drift=settings)
    window_seconds = int(settings.window_minutes * 60)
    runs = [(Stream(f"path {seed}", int(seed), 1.0), args.passes) for seed in args.paths.split(",")]
    runs.append((Stream(f"path {runs[0][0].path_seed}, volatility x3", runs[0][0].path_seed, 3.0),
                 args.changed_passes))  # fmt: skip
    table = [row("stream", "passes", "dataset drift", "feature alarms", "prediction alarms",
                 "most features in one pass"),
             row("---", "---:", "---:", "---:", "---:", "---:")]  # fmt: skip
    for path, count in runs:
        window = stream(training, path, window_seconds + count * PASS_EVERY_MS // 1000, model)
        results = judge(version, path, window, settings, count)
        flagged = [sum(c.detected for c in r.features.values()) for r in results]
        table.append(row(path.name, len(results), sum(r.dataset_drift for r in results),
                         sum(flagged), sum(r.prediction.detected for r in results),
                         max(flagged)))  # fmt: skip
    print()
    print("\n".join(table))


if __name__ == "__main__":
    main()
