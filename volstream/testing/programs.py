"""External programs a test drives (Chromium, promtool): found, or a clear skip."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

__all__ = ["program"]


def program(*names: str) -> str:
    """The path of the first of ``names`` on the PATH or in the running virtual environment
    (where pip installs tools such as hadolint); skip the test when there is none.

    With ``VOLSTREAM_REQUIRE_TOOLS=1`` (as CI sets it) a missing program fails the
    test instead, so that no test passes there by being skipped.
    """
    import pytest

    search = os.pathsep.join([os.environ.get("PATH", ""), str(Path(sys.executable).parent)])
    for name in names:
        path = shutil.which(name, path=search)
        if path:
            return path
    message = f"{names[0]} is not installed (apt-get install {names[0]}, or pip's dev extra)"
    if os.environ.get("VOLSTREAM_REQUIRE_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(message)
