"""LightGBM's trees as flat arrays, scored by one traversal written once for the CPU and the GPU.

``TreeArrays.from_booster`` reads a model's dump: per tree, its internal nodes
(split feature, threshold, children, missing-value handling) and its leaf
values. ``traverse`` walks one row through one tree exactly as LightGBM's
``NumericalDecision`` does, in double precision:

* a value with ``|x| <= 1e-35`` (a float32 constant) is read as 0.0: LightGBM's
  predictor drops such values from a row before it reaches the trees;
* a NaN is read as 0.0 unless the split's missing type is NaN;
* a missing value (NaN for type NaN; zero for type Zero) goes the default
  direction;
* otherwise ``x <= threshold`` goes left.

The same Python function is compiled by Numba for the CPU (``njit``, rows in
parallel) and for CUDA (a device function under a one-thread-per-row kernel,
:mod:`volstream.model.cuda`), so the CPU build proves the GPU build's logic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import lightgbm as lgb
import numba
import numpy as np
import numpy.typing as npt

from volstream.errors import ModelError

__all__ = ["MISSING_NAN", "MISSING_NONE", "MISSING_ZERO", "TreeArrays", "predict_cpu", "traverse"]

MISSING_NONE: Final = 0
MISSING_ZERO: Final = 1
MISSING_NAN: Final = 2
_MISSING_TYPES: Final = {"None": MISSING_NONE, "Zero": MISSING_ZERO, "NaN": MISSING_NAN}
ZERO_THRESHOLD: Final = 1.0000000180025095e-35  # LightGBM's kZeroThreshold, 1e-35f, as a double


@dataclass(frozen=True)
class TreeArrays:
    """A binary LightGBM model as arrays; child ``c < 0`` is the leaf ``~c``."""

    feature: npt.NDArray[np.int32]  # trees x internal nodes
    threshold: npt.NDArray[np.float64]
    left: npt.NDArray[np.int32]
    right: npt.NDArray[np.int32]
    default_left: npt.NDArray[np.bool_]
    missing: npt.NDArray[np.int8]
    leaf_value: npt.NDArray[np.float64]  # trees x leaves
    root: npt.NDArray[np.int32]  # 0, or ~0 for a tree that is a single leaf
    sigmoid: float
    n_features: int

    @property
    def trees(self) -> int:
        return len(self.root)

    @classmethod
    def from_booster(cls, booster: lgb.Booster) -> TreeArrays:
        """The trees ``Booster.predict`` uses (up to the best iteration, as it does)."""
        dump = booster.dump_model()
        if dump["num_tree_per_iteration"] != 1 or not dump["objective"].startswith("binary"):
            msg = f"only binary models can be compiled, not {dump['objective']!r}"
            raise ModelError(msg)
        if dump.get("average_output"):
            msg = "random-forest models (average_output) cannot be compiled"
            raise ModelError(msg)
        sigmoid = float(dump["objective"].split("sigmoid:")[1].split()[0])
        trees = [info["tree_structure"] for info in dump["tree_info"]]
        internal = max((info["num_leaves"] - 1 for info in dump["tree_info"]), default=0)
        leaves = max((info["num_leaves"] for info in dump["tree_info"]), default=1)
        arrays = _empty(len(trees), max(internal, 1), leaves)
        for t, tree in enumerate(trees):
            arrays["root"][t] = _fill(arrays, t, tree)
        return cls(**arrays, sigmoid=sigmoid, n_features=dump["max_feature_idx"] + 1)

    def args(self) -> tuple[Any, ...]:
        """The arrays in the order :func:`traverse` takes them."""
        return (self.feature, self.threshold, self.left, self.right, self.default_left,
                self.missing, self.leaf_value)  # fmt: skip


def _empty(trees: int, internal: int, leaves: int) -> dict[str, Any]:
    return {
        "feature": np.zeros((trees, internal), np.int32),
        "threshold": np.zeros((trees, internal), np.float64),
        "left": np.full((trees, internal), -1, np.int32),
        "right": np.full((trees, internal), -1, np.int32),
        "default_left": np.zeros((trees, internal), np.bool_),
        "missing": np.zeros((trees, internal), np.int8),
        "leaf_value": np.zeros((trees, leaves), np.float64),
        "root": np.zeros(trees, np.int32),
    }


def _fill(arrays: dict[str, Any], t: int, node: dict[str, Any]) -> int:
    """Store ``node`` and its subtree; returns its child code."""
    if "leaf_index" in node or "split_index" not in node:
        leaf = int(node.get("leaf_index", 0))
        arrays["leaf_value"][t, leaf] = node["leaf_value"]
        return ~leaf
    if node["decision_type"] != "<=":
        msg = f"categorical splits ({node['decision_type']!r}) cannot be compiled"
        raise ModelError(msg)
    i = int(node["split_index"])
    arrays["feature"][t, i] = node["split_feature"]
    arrays["threshold"][t, i] = node["threshold"]
    arrays["default_left"][t, i] = node["default_left"]
    arrays["missing"][t, i] = _MISSING_TYPES[node["missing_type"]]
    arrays["left"][t, i] = _fill(arrays, t, node["left_child"])
    arrays["right"][t, i] = _fill(arrays, t, node["right_child"])
    return i


def traverse(x, row, t, root, feature, threshold, left, right, default_left, missing, leaf_value):
    """The leaf value row ``row`` of ``x`` reaches in tree ``t`` (LightGBM's decision rule)."""
    node = root[t]
    while node >= 0:
        value = x[row, feature[t, node]]
        kind = missing[t, node]
        if abs(value) <= ZERO_THRESHOLD or (math.isnan(value) and kind != MISSING_NAN):
            value = 0.0
        if (kind == MISSING_ZERO and value == 0.0) or (kind == MISSING_NAN and math.isnan(value)):
            node = left[t, node] if default_left[t, node] else right[t, node]
        elif value <= threshold[t, node]:
            node = left[t, node]
        else:
            node = right[t, node]
    return leaf_value[t, ~node]


_traverse_cpu = numba.njit(cache=True, nogil=True)(traverse)


@numba.njit(cache=True, parallel=True, nogil=True)
def _predict_rows(x, out, sigmoid, root, feature, threshold, left, right, default_left, missing,
                  leaf_value):  # fmt: skip
    for row in numba.prange(x.shape[0]):
        raw = 0.0
        for t in range(root.shape[0]):
            raw += _traverse_cpu(x, row, t, root, feature, threshold, left, right, default_left,
                                 missing, leaf_value)  # fmt: skip
        out[row] = 1.0 / (1.0 + math.exp(-sigmoid * raw))


def predict_cpu(trees: TreeArrays, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Probabilities for ``features`` with the CPU build of :func:`traverse`."""
    x = np.ascontiguousarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != trees.n_features:
        msg = f"expected rows of {trees.n_features} features, got shape {x.shape}"
        raise ModelError(msg)
    out = np.empty(len(x), dtype=np.float64)
    _predict_rows(x, out, trees.sigmoid, trees.root, *trees.args())
    return out
