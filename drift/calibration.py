"""Drift thresholds calibrated on the training history, so that an alarm means something.

Evidently's default test, the Wasserstein distance normed by the reference's
standard deviation, alarms at a fixed 0.1. That assumes independent rows; a
few minutes of a stream's rolling-window features are strongly autocorrelated,
so ordinary windows score far above 0.1 on the very market the model learned.

Here the null distribution of the score comes from the history itself. At
training time, contiguous windows of the live window's size (so the
autocorrelation is in the null) are cut from the history and each column is
scored against the reference sample, for the live size and each half of it
down to ``min_rows`` (a window that is still filling is smaller). Those scores
are stored with the model version (``drift_null.json``). At pass time a
log-normal fitted to the scores of the window's size gives each column its
threshold, the ``quantile`` of the fit, and the score's exceedance: the fit's
probability that a normal window scores at least as high.

A fit rather than the scores' own quantile: windows that overlap are not
independent, and two hours of history hold a dozen independent 15-minute
windows, too few for an empirical 99th percentile. The score here is exactly
Evidently's (tests/test_drift.py compares the two), computed from the quantile
functions so that hundreds of windows cost a few seconds.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from volstream.errors import ModelError

__all__ = ["Calibration", "calibrate", "normed_wasserstein"]

log = logging.getLogger(__name__)

METHOD: Final = "wasserstein"  # Evidently's name of the test calibrated here
WINDOWS_PER_SIZE: Final = 40
SCORE_FLOOR: Final = 1e-12  # a log-normal needs positive scores
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Calibration:
    """Null scores per column: ``scores[column][i]`` are the windows of ``sizes[i]`` rows."""

    sizes: list[int]
    scores: dict[str, list[list[float]]]
    window_rows: int
    history_rows: int
    method: str = METHOD

    def size_for(self, rows: int) -> int:
        """The calibrated size that judges a window of ``rows``: the largest not above it
        (a smaller window scores higher, so this errs towards no alarm), else the smallest."""
        fitting = [size for size in self.sizes if size <= rows]
        return max(fitting) if fitting else min(self.sizes)

    def fit(self, column: str, rows: int) -> NormalDist:
        """The normal fitted to the log scores of ``column`` for a window of ``rows``."""
        scores = self.scores[column][self.sizes.index(self.size_for(rows))]
        logs = np.log(np.maximum(scores, SCORE_FLOOR))
        return NormalDist(float(logs.mean()), max(float(logs.std(ddof=1)), 1e-6))

    def threshold(self, column: str, rows: int, quantile: float) -> float:
        """The score a normal window of ``rows`` exceeds with probability ``1 - quantile``."""
        return math.exp(self.fit(column, rows).inv_cdf(quantile))

    def exceedance(self, column: str, rows: int, score: float) -> float:
        """The fitted probability that a normal window of ``rows`` scores at least ``score``."""
        return 1.0 - self.fit(column, rows).cdf(math.log(max(score, SCORE_FLOOR)))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> Calibration | None:
        """The stored calibration; None when the version has none (trained before it existed)."""
        if not path.is_file():
            return None
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as e:
            msg = f"cannot read the drift calibration {path}: {e}"
            raise ModelError(msg) from e


def calibrate(
    history: pd.DataFrame,
    reference: pd.DataFrame,
    window_rows: int,
    min_rows: int,
    report: Callable[[int, int], None] = lambda done, total: None,
) -> Calibration | None:
    """Score contiguous windows of ``history`` (time-ordered rows, warm) against ``reference``.

    Sizes: ``window_rows`` and its halves down to ``min_rows``, each where the
    history holds at least two windows of it. None when it holds none.
    ``report(done, total)`` counts the columns scored.
    """
    sizes = []
    size = window_rows
    while size >= min_rows:
        if len(history) >= 2 * size:
            sizes.append(size)
        size //= 2
    if not sizes:
        log.warning("drift calibration: %d rows of history hold no two windows of %d rows or "
                    "fewer (down to %d); drift will use Evidently's fixed thresholds",
                    len(history), window_rows, min_rows)  # fmt: skip
        return None
    scores: dict[str, list[list[float]]] = {column: [] for column in reference.columns}
    total, done = len(sizes) * len(reference.columns), 0
    for size in sizes:
        starts = np.unique(np.linspace(0, len(history) - size, WINDOWS_PER_SIZE).astype(np.int64))
        for column in reference.columns:
            null = NullScorer(reference[column].to_numpy(dtype=np.float64), size)
            values = history[column].to_numpy(dtype=np.float64)
            scores[column].append([null.score(values[s : s + size]) for s in starts])
            done += 1
            report(done, total)
    return Calibration(sorted(sizes), {c: s[::-1] for c, s in scores.items()}, window_rows,
                       len(history))  # fmt: skip


class NullScorer:
    """Normed Wasserstein distances of windows of one size to one reference column.

    In one dimension the distance is the area between the quantile functions;
    both are steps at multiples of 1/m and 1/n, so the breakpoints, and which
    order statistic each side takes between them, are fixed for a pair of sizes.
    """

    def __init__(self, reference: FloatArray, size: int) -> None:
        m, n = len(reference), size
        self._reference = np.sort(reference)
        self._norm = max(float(np.std(reference)), 0.001)  # as Evidently norms it
        steps = np.union1d(
            np.arange(1, m + 1, dtype=np.int64) * n, np.arange(1, n + 1, dtype=np.int64) * m
        )  # in units of 1/(m n)
        self._reference_at = self._reference[-(-steps // n) - 1]
        self._current_order = -(-steps // m) - 1
        self._widths = np.diff(steps, prepend=0) / (m * n)

    def score(self, current: FloatArray) -> float:
        quantiles = np.sort(current)[self._current_order]
        return float(np.dot(self._widths, np.abs(self._reference_at - quantiles)) / self._norm)


def normed_wasserstein(reference: FloatArray, current: FloatArray) -> float:
    """Evidently's ``wasserstein`` score of ``current`` against ``reference``."""
    return NullScorer(reference, len(current)).score(current)
