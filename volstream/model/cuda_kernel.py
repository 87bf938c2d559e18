"""The CUDA kernel: a thread per row, every tree, by LightGBM's rule (``trees.traverse``).

Imported only when a GPU (or Numba's CUDA simulator) scores: importing
``numba.cuda`` here at module level lets the simulator swap it for its own.
"""

from __future__ import annotations

import math

from numba import cuda

from volstream.model.trees import traverse

__all__ = ["score"]

try:
    from numba.cuda.core import config
except ImportError:  # Numba's own CUDA target, or the simulator
    from numba.core import config

# Numba warns at every launch of under 128 blocks (16,384 rows): most of the consumer's
# batches, where the copies, not occupancy, bound the time. Under pytest the warning fails.
config.CUDA_LOW_OCCUPANCY_WARNINGS = 0

device_traverse = cuda.jit(device=True)(traverse)


@cuda.jit
def score(x, out, sigmoid, root, feature, threshold, left, right, default_left, missing,
          leaf_value):  # fmt: skip
    row = cuda.grid(1)  # type: ignore[attr-defined]
    if row < x.shape[0]:
        raw = 0.0
        for t in range(root.shape[0]):
            raw += device_traverse(x, row, t, root, feature, threshold, left, right,
                                   default_left, missing, leaf_value)  # fmt: skip
        out[row] = 1.0 / (1.0 + math.exp(-sigmoid * raw))
