"""The features: their names, in the order every model and contract uses, and their windows.

:mod:`volstream.feature_engine` computes them (see ``docs/features.md`` for the
definitions). It holds no code, so that everything that only names the
features (contracts, drift, the API, the registry) loads without the engine's
compiler.
"""

from __future__ import annotations

from typing import Final

import numpy as np

__all__ = ["FEATURE_NAMES", "LONGEST_MS", "N_FEATURES", "N_WINDOWS", "WINDOWS_MS"]

FEATURE_NAMES: Final = (
    "log_return",
    "rv_10s",
    "rv_30s",
    "rv_60s",
    "mean_return_60s",
    "tick_count_10s",
    "tick_count_60s",
    "volume_60s",
    "spread_bps",
    "imbalance",
    "vwap_dev_bps_60s",
    "range_bps_60s",
    "seconds_since_prev",
)
N_FEATURES: Final = len(FEATURE_NAMES)
WINDOWS_MS: Final = np.array([10_000, 30_000, 60_000], dtype=np.int64)
LONGEST_MS: Final = 60_000
N_WINDOWS: Final = len(WINDOWS_MS)
