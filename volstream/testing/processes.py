"""Waiting for things, and running volstream commands as child processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from volstream.settings import KafkaSettings

__all__ = ["http_status", "start_consumer", "stop_process", "wait_for"]

POLL_SECONDS = 0.3
STOP_TIMEOUT_SECONDS = 10.0


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            msg = f"timed out waiting for {what}"
            raise AssertionError(msg)
        time.sleep(POLL_SECONDS)


def stop_process(process: subprocess.Popen[str]) -> str:
    """SIGTERM ``process``; it must exit 0 within 10 s with no traceback. Returns its output."""
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=STOP_TIMEOUT_SECONDS)
    finally:
        process.kill()
    if process.returncode != 0 or "Traceback" in output:
        msg = f"exit code {process.returncode}:\n{output}"
        raise AssertionError(msg)
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


def start_consumer(
    kafka: KafkaSettings, registry: Path, group: str, metrics_port: int, *options: str,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[str]:  # fmt: skip
    """``volstream consume`` on ``kafka``'s topics as a child process, its output piped."""
    environment = {**os.environ, "VOLSTREAM_KAFKA_TICKS_TOPIC": kafka.ticks_topic,
                   "VOLSTREAM_KAFKA_PREDICTIONS_TOPIC": kafka.predictions_topic,
                   "VOLSTREAM_KAFKA_DLQ_TOPIC": kafka.dlq_topic,
                   "VOLSTREAM_KAFKA_CANARY_TOPIC": kafka.canary_topic, **(env or {})}  # fmt: skip
    return subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "volstream", "consume", "--bootstrap", kafka.bootstrap,
         "--group", group, "--metrics-port", str(metrics_port), "--registry", str(registry),
         *options],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment,
    )  # fmt: skip
