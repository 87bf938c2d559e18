"""``volstream api``: serve the API with uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import errno
import logging
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from volstream.api.app import create_app
from volstream.errors import ConfigError
from volstream.settings import ApiSettings, DeviceSettings, KafkaSettings, ModelSettings

__all__ = ["run"]

log = logging.getLogger(__name__)


def run(
    settings: ApiSettings,
    model: ModelSettings,
    kafka: KafkaSettings,
    drift_reports: Path,
    device: DeviceSettings,
) -> None:
    """Serve on ``settings.host:settings.port``; a port in use stops start-up with one line."""
    sock = bind(settings.host, settings.port)
    api = create_app(settings, model, kafka, drift_reports=drift_reports, device=device)
    config = uvicorn.Config(
        api.asgi,
        access_log=False,  # a third of the throughput; the request metrics count every request
        log_config=None,  # our logging set-up
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    log.info("API on http://%s:%d (docs at /docs, metrics at /metrics)", *sock.getsockname()[:2])
    logging.getLogger("uvicorn.error").addFilter(_named_uvicorn)
    _Server(config).run(sockets=[sock])
    log.info("API stopped")


def _named_uvicorn(record: logging.LogRecord) -> bool:
    """uvicorn logs everything, start-up included, as ``uvicorn.error``: show ``uvicorn``."""
    record.name = "uvicorn"
    return True


class _Server(uvicorn.Server):
    """uvicorn, except that SIGINT/SIGTERM end the process with exit code 0.

    uvicorn re-raises the signal after its graceful shutdown, so a SIGTERM'd API
    would exit with -15; a clean stop is not a failure to supervisors or tests.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.handle_exit)
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or :class:`ConfigError` saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            msg = f"API port {port} is already in use; choose another"
            raise ConfigError(msg) from e
        msg = f"cannot listen on {host}:{port}: {e.strerror}"
        raise ConfigError(msg) from e
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
