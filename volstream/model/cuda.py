"""The CUDA backend: the tree traversal as a Numba CUDA kernel, one thread per row.

Every thread walks its row through every tree, in double precision, so the
GPU gives LightGBM's numbers (the tests hold it to 1e-6; on the CPU build of
the same function the difference is 0). The trees are copied to the device
once, when the model loads; each batch copies its rows there and the
probabilities back.
"""

from __future__ import annotations

import ctypes
import logging
import os
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from volstream.errors import ModelError

if TYPE_CHECKING:
    from volstream.model.trees import TreeArrays

__all__ = ["CudaScorer", "cuda_problem"]

log = logging.getLogger(__name__)
THREADS_PER_BLOCK = 128


def cuda_problem() -> str | None:
    """Why this process cannot use a GPU, or None when it can.

    Without a CUDA driver library it answers before Numba loads, so a process
    with no GPU does not hold Numba's compiler for nothing (about 90 MB).
    """
    if not _driver_loads():
        return "no CUDA driver or NVIDIA GPU found"
    try:
        from numba import cuda
    except ImportError as e:  # pragma: no cover - numba ships numba.cuda
        return f"numba.cuda cannot be imported: {e}"
    try:
        if not cuda.is_available():
            return "no CUDA driver or NVIDIA GPU found"
        cuda.current_context()  # creating one fails on a broken driver
    except Exception as e:  # the driver's own error, whatever its class
        return f"CUDA is not usable: {e}"
    return None


def _driver_loads() -> bool:
    """The CUDA driver library opens where Numba looks for it first (or Numba is told
    where it is, or runs its CUDA simulator)."""
    if os.environ.get("NUMBA_CUDA_DRIVER") or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return True
    for name in ("libcuda.so", "libcuda.so.1"):
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


class CudaScorer:
    """A compiled model resident on the GPU."""

    def __init__(self, trees: TreeArrays) -> None:
        from numba import cuda

        from volstream.model.cuda_kernel import score  # compiles for the GPU on first use

        self._cuda = cuda
        self._trees = trees
        self._device_trees = [cuda.to_device(a) for a in (trees.root, *trees.args())]
        self._score = score

    def predict_proba(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x = np.ascontiguousarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self._trees.n_features:
            msg = f"expected rows of {self._trees.n_features} features, got shape {x.shape}"
            raise ModelError(msg)
        if len(x) == 0:
            return np.zeros(0)
        device_x = self._cuda.to_device(x)
        device_out = self._cuda.device_array(len(x), dtype=np.float64)
        blocks = (len(x) + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
        self._score[blocks, THREADS_PER_BLOCK](
            device_x, device_out, self._trees.sigmoid, *self._device_trees
        )
        return np.asarray(device_out.copy_to_host(), dtype=np.float64)
