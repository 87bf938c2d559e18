"""External programs some tests drive (Chromium, Prometheus tools): found, or a clear skip.

CI installs them and sets ``VOLSTREAM_REQUIRE_TOOLS=1``, which turns a missing
program into a failure, so a test can never pass there by being skipped.
"""

from __future__ import annotations

import os
import shutil

import pytest


def tool(*names: str) -> str:
    """The path of the first of ``names`` on the PATH; skip (fail in CI) when there is none."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    message = f"{names[0]} is not installed (apt-get install {names[0]})"
    if os.environ.get("VOLSTREAM_REQUIRE_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(message)
