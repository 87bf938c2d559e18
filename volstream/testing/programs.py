"""External programs a test drives (Chromium, promtool): found, or a clear skip."""

from __future__ import annotations

import os
import shutil

__all__ = ["program"]


def program(*names: str) -> str:
    """The path of the first of ``names`` on the PATH; skip the test when there is none.

    With ``VOLSTREAM_REQUIRE_TOOLS=1`` (as CI sets it) a missing program fails the
    test instead, so that no test passes there by being skipped.
    """
    import pytest

    for name in names:
        path = shutil.which(name)
        if path:
            return path
    message = f"{names[0]} is not installed (apt-get install {names[0]})"
    if os.environ.get("VOLSTREAM_REQUIRE_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(message)
