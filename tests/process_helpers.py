"""Running volstream commands as child processes in tests."""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM ``process``; it must exit 0 within 10 s with no traceback. Returns its output."""
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0, output
    assert "Traceback" not in output
    return output


def http_status(url: str) -> int:
    """The status of a GET of ``url``; 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local services
            return int(response.status)
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0
