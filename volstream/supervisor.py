"""Child processes with prefixed output, stopped in order: what ``volstream demo`` runs.

Each child (a ``volstream`` command, or Prometheus) runs in its own session (Ctrl-C reaches only
the supervisor, which then stops the children one by one) that dies with its
parent. Every line a child writes is printed as ``name | line``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Final

from volstream.lifecycle import die_with_parent

__all__ = ["Child", "Supervisor"]

log = logging.getLogger(__name__)
COLOURS: Final = ("36", "33", "35", "32", "34", "31")  # cyan, yellow, magenta, green, blue, red


@dataclass
class Child:
    """One program to run, as ``command`` (its whole argument list)."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[str] | None = None
    reader: threading.Thread | None = None

    @classmethod
    def volstream(cls, name: str, args: list[str], env: dict[str, str]) -> Child:
        """``volstream <args>`` with this interpreter."""
        return cls(name, [sys.executable, "-m", "volstream", *args], env)


class Supervisor:
    """Starts children, echoes their output, notices when one dies, stops them all."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self._children: list[Child] = []
        self._out = out or sys.stdout
        self._colour = self._out.isatty()
        self._write_lock = threading.Lock()
        self._width = 0

    def start(self, child: Child) -> Child:
        """Run ``child`` now."""
        self._width = max(self._width, len(child.name))
        child.process = subprocess.Popen(  # noqa: S603 - our own commands
            child.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **child.env},
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        colour = COLOURS[len(self._children) % len(COLOURS)]
        child.reader = threading.Thread(
            target=self._echo, args=(child, colour), name=f"echo-{child.name}", daemon=True
        )
        child.reader.start()
        self._children.append(child)
        return child

    def first_exited(self) -> Child | None:
        """A child that has exited, if any."""
        return next((c for c in self._children if c.process and c.process.poll() is not None), None)

    def wait(self, stop: threading.Event) -> Child | None:
        """Until ``stop`` is set (None) or a child exits (that child)."""
        while not stop.wait(0.2):
            exited = self.first_exited()
            if exited:
                return exited
        return None

    def stop_all(self, timeout: float = 10.0) -> dict[str, int]:
        """Stop the last child started and wait for it, then all the others at once.

        The last one is the source of data (the producer): once it has stopped,
        the others can drain what it sent while they stop. SIGTERM first; SIGKILL
        for a child still running ``timeout`` seconds later. Returns exit codes.
        """
        if not self._children:
            return {}
        *rest, last = self._children
        codes = self._stop([last], timeout)
        codes.update(self._stop(list(reversed(rest)), timeout))
        return codes

    def _stop(self, children: list[Child], timeout: float) -> dict[str, int]:
        running = [c for c in children if c.process and c.process.poll() is None]
        for child in running:
            assert child.process  # noqa: S101 - filtered above
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        codes: dict[str, int] = {}
        for child in children:
            process = child.process
            if process is None:
                continue
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s; killing it", child.name, timeout)
                process.kill()
                process.wait()
            if child.reader:
                child.reader.join(2)
            codes[child.name] = process.returncode
        return codes

    def _echo(self, child: Child, colour: str) -> None:
        assert child.process and child.process.stdout  # noqa: S101 - set by start()
        for line in child.process.stdout:
            name = child.name.ljust(self._width)
            prefix = f"\x1b[{colour}m{name} |\x1b[0m " if self._colour else f"{name} | "
            with self._write_lock:
                self._out.write(prefix + line.rstrip("\n") + "\n")
                self._out.flush()


def wait_for_http(url: str, timeout: float) -> bool:
    """True once ``url`` answers (any status), False after ``timeout`` seconds."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 - our own local services
            return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            time.sleep(0.2)
    return False
