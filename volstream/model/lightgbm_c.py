"""LightGBM's C library, without its Python package: the calls that serving makes.

Serving needs four calls of LightGBM's C API: load a text model, read its
feature names, score a matrix, score one row. LightGBM's Python package
imports scikit-learn, SciPy and pandas whenever they are installed, and they
are (training and Evidently use them): about 150 MB in each process that only
serves a model (the consumer, the API, the evaluator). So serving opens the
library that the package ships, where pip installed it, without importing the
package. Training uses the package; both run the same library on the same
trees, so the numbers are the same (tests/test_serving.py).
"""

from __future__ import annotations

import ctypes
import importlib.util
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from volstream.errors import ModelError

__all__ = ["NativeBooster", "SingleRow"]

_LIBRARY_NAMES = ("lib_lightgbm.so", "lib_lightgbm.dylib", "lib_lightgbm.dll")
_DTYPE_FLOAT64 = 1  # C_API_DTYPE_FLOAT64
_PREDICT_NORMAL = 0  # C_API_PREDICT_NORMAL: probabilities
_ROW_MAJOR = 1
_ALL_ITERATIONS = -1  # the best iteration, which is the last one a saved model holds


@cache
def _lib() -> ctypes.CDLL:
    """lib_lightgbm from the installed package's folders (as its ``libpath`` looks)."""
    spec = importlib.util.find_spec("lightgbm")
    if spec is None or spec.origin is None:
        msg = "LightGBM is not installed (pip install lightgbm)"
        raise ModelError(msg)
    package = Path(spec.origin).parent
    for folder in (package / "lib", package / "bin", package.parent):
        for name in _LIBRARY_NAMES:
            if (folder / name).is_file():
                library = ctypes.CDLL(str(folder / name))
                library.LGBM_GetLastError.restype = ctypes.c_char_p
                return library
    msg = f"LightGBM's library is not in {package}: reinstall lightgbm"
    raise ModelError(msg)


def _check(return_code: int, doing: str) -> None:
    if return_code != 0:
        msg = f"{doing}: LightGBM: {_lib().LGBM_GetLastError().decode()}"
        raise ModelError(msg)


class NativeBooster:
    """A LightGBM text model, loaded and scored through the C API."""

    def __init__(self, model_file: Path) -> None:
        self._handle = ctypes.c_void_p()
        iterations = ctypes.c_int(0)
        _check(
            _lib().LGBM_BoosterCreateFromModelfile(
                str(model_file).encode(), ctypes.byref(iterations), ctypes.byref(self._handle)
            ),
            f"cannot load {model_file}",
        )

    def num_feature(self) -> int:
        count = ctypes.c_int(0)
        _check(_lib().LGBM_BoosterGetNumFeature(self._handle, ctypes.byref(count)), "features")
        return count.value

    def feature_names(self) -> list[str]:
        count, size = self.num_feature(), 256
        while True:
            buffers = [ctypes.create_string_buffer(size) for _ in range(count)]
            pointers = (ctypes.c_char_p * count)(*map(ctypes.addressof, buffers))  # type: ignore[misc]
            found, needed = ctypes.c_int(0), ctypes.c_size_t(0)
            _check(
                _lib().LGBM_BoosterGetFeatureNames(
                    self._handle,
                    ctypes.c_int(count),
                    ctypes.byref(found),
                    ctypes.c_size_t(size),
                    ctypes.byref(needed),
                    pointers,
                ),  # fmt: skip
                "feature names",
            )
            if needed.value <= size:
                return [buffer.value.decode() for buffer in buffers[: found.value]]
            size = needed.value

    def predict(self, features: npt.NDArray[np.float64], threads: int) -> npt.NDArray[np.float64]:
        """Probabilities of the rows, on ``threads`` threads (as ``Booster.predict``)."""
        rows = np.ascontiguousarray(features, dtype=np.float64)
        out = np.zeros(len(rows), dtype=np.float64)
        written = ctypes.c_int64(0)
        _check(
            _lib().LGBM_BoosterPredictForMat(
                self._handle,
                rows.ctypes.data_as(ctypes.c_void_p),
                ctypes.c_int(_DTYPE_FLOAT64),
                ctypes.c_int32(rows.shape[0]),
                ctypes.c_int32(rows.shape[1]),
                ctypes.c_int(_ROW_MAJOR),
                ctypes.c_int(_PREDICT_NORMAL),
                ctypes.c_int(0),
                ctypes.c_int(_ALL_ITERATIONS),
                f"num_threads={threads}".encode(),
                ctypes.byref(written),
                out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
            ),  # fmt: skip
            "prediction",
        )
        if written.value != len(rows):
            msg = f"LightGBM wrote {written.value} predictions for {len(rows)} rows"
            raise ModelError(msg)
        return out

    def __del__(self) -> None:
        if self._handle:
            _lib().LGBM_BoosterFree(self._handle)
            self._handle = ctypes.c_void_p()


class SingleRow:
    """``LGBM_BoosterPredictForMatSingleRowFast``: one row, no per-call set-up.

    Not thread-safe: the input and output buffers are reused by every call.
    """

    def __init__(self, booster: NativeBooster) -> None:
        self._booster = booster  # keeps the native handle alive
        self._row = np.zeros(booster.num_feature(), dtype=np.float64)
        self._out = np.zeros(1, dtype=np.float64)
        self._out_len = ctypes.c_int64()
        self._config = ctypes.c_void_p()
        _check(
            _lib().LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,  # noqa: SLF001 - the booster this module made
                ctypes.c_int(_PREDICT_NORMAL),
                ctypes.c_int(0),  # from the first iteration
                ctypes.c_int(_ALL_ITERATIONS),
                ctypes.c_int(_DTYPE_FLOAT64),
                ctypes.c_int32(len(self._row)),
                b"num_threads=1",
                ctypes.byref(self._config),
            ),
            "single-row set-up",
        )
        self._call = _lib().LGBM_BoosterPredictForMatSingleRowFast
        self._args = (
            self._config,
            self._row.ctypes.data_as(ctypes.c_void_p),
            ctypes.byref(self._out_len),
            self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        )

    def predict(self, row: npt.ArrayLike) -> float:
        """The probability for one row of features."""
        self._row[:] = row
        _check(self._call(*self._args), "prediction")
        return float(self._out[0])

    def __del__(self) -> None:
        if self._config:
            _lib().LGBM_FastConfigFree(self._config)
            self._config = ctypes.c_void_p()
