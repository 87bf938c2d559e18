"""What each program loads: every process of the pipeline pays for its imports in memory.

Numba's compiler is about 90 MB a process, pandas about 75 MB, and LightGBM's
Python package, which imports scikit-learn, SciPy and pandas, about 150 MB. The
programs that do not compute features, read files or train must not carry them.
"""

from __future__ import annotations

import subprocess
import sys

import pytest


def loaded(module: str, heavy: tuple[str, ...]) -> list[str]:
    code = f"import sys, {module}; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    env = {"PATH": "/usr/bin:/bin"}  # no NUMBA_* or CUDA settings from the caller
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, check=True, timeout=120)  # fmt: skip
    return result.stdout.split()


@pytest.mark.parametrize(
    ("module", "heavy"),
    [
        ("volstream.cli.demo", ("numba", "pandas", "lightgbm")),  # the demo's supervisor
        ("volstream.model.registry", ("numba", "pandas", "lightgbm")),
        ("volstream.predictions", ("numba", "pandas")),
        ("volstream.producer.main", ("numba", "pandas", "pyarrow")),
        ("volstream.api.app", ("numba", "lightgbm", "sklearn", "pandas")),
        ("volstream.consumer.main", ("lightgbm", "sklearn", "pandas")),
        ("volstream.evaluator.main", ("lightgbm", "sklearn", "pandas")),
    ],
)
def test_a_program_loads_only_what_it_uses(module: str, heavy: tuple[str, ...]) -> None:
    assert loaded(module, heavy) == []


def test_the_api_without_a_gpu_does_not_load_numba() -> None:
    code = (
        "import sys; from volstream.model.cuda import cuda_problem;"
        "print(cuda_problem()); print('numba' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"}, check=True, timeout=120)  # fmt: skip
    problem, numba_loaded = result.stdout.splitlines()
    if problem == "None":
        pytest.skip("this machine has a GPU: Numba is needed to use it")
    assert numba_loaded == "False"
