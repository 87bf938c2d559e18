"""The CUDA kernel: a thread per row, every tree, by LightGBM's rule (``trees.traverse``).

Imported only when a GPU (or Numba's CUDA simulator) scores: importing
``numba.cuda`` here at module level lets the simulator swap it for its own.
"""

from __future__ import annotations

import math

from numba import cuda

from volstream.model.trees import traverse

__all__ = ["score"]

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
