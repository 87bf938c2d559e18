"""`volstream train` with its default settings, timed by stage.

The demo's model (two simulated hours of 30 symbols at 150 ticks/s) is trained
``--runs`` times into fresh registries. Each stage's time runs from its first
progress report to its last, so a stage's set-up before its first report is
not counted in it; the total is the whole call.

    .venv/bin/python -m benchmarks.bench_training [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import row
from volstream.model.training import train
from volstream.settings import DriftSettings, ModelSettings, TrainSettings


def one_run() -> dict[str, float]:
    """Seconds by stage and in total."""
    spans: dict[str, list[float]] = {}

    def report(stage: str, done: int, total: int | None) -> None:
        now = time.perf_counter()
        spans.setdefault(stage, [now, now])[1] = now

    registry = Path(tempfile.mkdtemp(prefix="bench-training-")) / "models"
    started = time.perf_counter()
    train(TrainSettings.model_validate({}), ModelSettings.model_validate({"registry": registry}),
          report, DriftSettings.model_validate({}))  # fmt: skip
    seconds = {stage: last - first for stage, (first, last) in spans.items()}
    return {**seconds, "total": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run() for _ in range(args.runs)]
    print(row("stage", "median s", "runs (s)"))
    print(row("---", "---:", "---"))
    for stage in runs[0]:
        values = [run[stage] for run in runs]
        print(row(stage, f"{statistics.median(values):.2f}",
                  ", ".join(f"{v:.2f}" for v in values)))  # fmt: skip


if __name__ == "__main__":
    main()
