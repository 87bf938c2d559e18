"""Metric helpers shared by the services.

Each service builds its metrics with a function that takes a registry, so tests
use a fresh ``CollectorRegistry``. Observations on hot paths are made per batch:
:class:`BatchHistogram` takes a whole array of values in one call.
"""

from __future__ import annotations

import errno
import logging
import math
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from wsgiref.simple_server import WSGIRequestHandler, make_server

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry, Counter, Gauge, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from volstream.errors import ConfigError

if TYPE_CHECKING:
    from volstream.model.inference import ModelInfo

log = logging.getLogger(__name__)

__all__ = [
    "LATENCY_BUCKETS",
    "PROBABILITY_BUCKETS",
    "BatchHistogram",
    "Probe",
    "ProbeResult",
    "ServedModelMetrics",
    "batch_class",
    "bucket_quantile",
    "inference_histogram",
    "serve_metrics",
]

#: Seconds, from a millisecond up to a minute; 0.1 and 5 are edges the SLO rules use, and
#: from 40 to 150 ms the edges are 10-25 ms apart, so that a quantile creeping there shows.
LATENCY_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.11, 0.125,
    0.15, 0.2, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
#: Predicted probabilities, every 0.05.
PROBABILITY_BUCKETS: Final = tuple(round(0.05 * i, 2) for i in range(1, 21))


class BatchHistogram(Collector):
    """A histogram that takes many observations in one call (``observe_many``).

    prometheus-client's Histogram costs about a microsecond per ``observe``;
    this one bins a whole array with NumPy and exports the same text format.
    Single values (``observe``, one per HTTP request) are appended to a list
    and binned together at the next scrape, or every ``PENDING_LIMIT`` values.
    """

    PENDING_LIMIT: Final = 4096

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        registry: CollectorRegistry,
        labelnames: Sequence[str] = (),
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._upper = np.asarray(sorted(buckets), dtype=np.float64)
        self._labelnames = tuple(labelnames)
        self._series: dict[tuple[str, ...], tuple[npt.NDArray[np.int64], list[float]]] = {}
        self._pending: dict[tuple[str, ...], list[float]] = {}
        self._lock = threading.Lock()
        registry.register(self)

    def observe(self, value: float, *labelvalues: str) -> None:
        """Add one value, binned later with the others (see the class docstring)."""
        with self._lock:
            pending = self._pending.setdefault(labelvalues, [])
            pending.append(value)
            full = len(pending) >= self.PENDING_LIMIT
        if full:
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for labelvalues, values in pending.items():
            self.observe_many(values, *labelvalues)

    def observe_many(self, values: npt.ArrayLike, *labelvalues: str) -> None:
        """Add every value in ``values`` to the series named by ``labelvalues``."""
        array = np.asarray(values, dtype=np.float64)
        if array.size == 0:
            return
        counts = np.bincount(
            np.searchsorted(self._upper, array, side="left"), minlength=len(self._upper) + 1
        )
        total = float(array.sum())
        with self._lock:
            series = self._series_for(labelvalues)
            series[0][:] += counts
            series[1][0] += total

    def observe_repeated(self, value: float, count: int, *labelvalues: str) -> None:
        """Add ``value`` ``count`` times (one measurement that stands for many events)."""
        if count <= 0:
            return
        bucket = int(np.searchsorted(self._upper, value, side="left"))
        with self._lock:
            series = self._series_for(labelvalues)
            series[0][bucket] += count
            series[1][0] += value * count

    def labels(self, *labelvalues: str) -> None:
        """Create the series for ``labelvalues`` with zero counts, so it exists before use."""
        with self._lock:
            self._series_for(labelvalues)

    def remove(self, *labelvalues: str) -> None:
        """Drop one series."""
        with self._lock:
            self._series.pop(tuple(labelvalues), None)

    def _series_for(
        self, labelvalues: tuple[str, ...]
    ) -> tuple[npt.NDArray[np.int64], list[float]]:
        if len(labelvalues) != len(self._labelnames):
            msg = f"{self._name} takes labels {self._labelnames}, got {labelvalues}"
            raise ValueError(msg)
        if labelvalues not in self._series:
            self._series[labelvalues] = (np.zeros(len(self._upper) + 1, dtype=np.int64), [0.0])
        return self._series[labelvalues]

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def collect(self) -> Iterator[Metric]:
        self._flush()
        family = HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)
        with self._lock:
            snapshot = [(k, counts.copy(), s[0]) for k, (counts, s) in self._series.items()]
        edges = [floatToGoString(b) for b in self._upper] + ["+Inf"]  # type: ignore[no-untyped-call]
        for labelvalues, counts, total in snapshot:
            cumulative = np.cumsum(counts).tolist()
            family.add_metric(list(labelvalues), list(zip(edges, cumulative, strict=True)), total)
        yield family


#: A probe's answer: whether it passes, and one line saying why.
ProbeResult = tuple[bool, str]
Probe = Callable[[], ProbeResult]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes and probes are not worth a log line each."""


def _metrics_app(registry: CollectorRegistry, probes: Mapping[str, Probe]) -> Any:
    """Prometheus' WSGI app, with ``probes`` answered at their paths: 200 or 503, one line."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        probe = probes.get(environ.get("PATH_INFO", ""))
        if probe is None:
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        passed, why = probe()
        status = "200 OK" if passed else "503 Service Unavailable"
        start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
        return [f"{why}\n".encode()]

    return app


def _server_class(host: str) -> type[ThreadingWSGIServer]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class Server(ThreadingWSGIServer):
        address_family = family

    return Server


@contextmanager
def serve_metrics(
    registry: CollectorRegistry,
    port: int,
    service: str,
    host: str = "0.0.0.0",  # noqa: S104
    probes: Mapping[str, Probe] | None = None,
) -> Iterator[str | None]:
    """Serve ``registry`` at ``http://host:port/metrics`` while the block runs; yields the URL.

    ``probes`` maps paths (``/health``, ``/ready``) to checks answered there with 200 or 503.
    Port 0 serves nothing (and yields None). A port in use stops start-up with one line.
    """
    if port == 0:
        yield None
        return
    try:
        server = make_server(host, port, _metrics_app(registry, probes or {}),
                             _server_class(host), handler_class=_QuietHandler)  # fmt: skip
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            msg = f"metrics port {port} is already in use; choose another"
            raise ConfigError(msg) from e
        msg = f"cannot serve metrics on {host}:{port}: {e.strerror}"
        raise ConfigError(msg) from e
    thread = threading.Thread(target=server.serve_forever, name=f"{service}-metrics", daemon=True)
    thread.start()
    bound_host, bound_port = str(server.server_address[0]), int(server.server_address[1])
    every_interface = bound_host == "0.0.0.0"  # noqa: S104
    url = f"http://{'127.0.0.1' if every_interface else bound_host}:{bound_port}/metrics"
    # In a container 127.0.0.1 is the container itself: say what was bound.
    log.info("%s metrics at http://%s:%d/metrics%s", service, bound_host, bound_port,
             " (every interface)" if every_interface else "")  # fmt: skip
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


#: Seconds of one inference call, from 10 µs (one row) to 5 s (a huge batch).
INFERENCE_BUCKETS: Final = (
    1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5, 1.0, 5.0,
)  # fmt: skip
_BATCH_CLASSES: Final = ((1, "1"), (100, "2-100"), (1000, "101-1000"), (10_000, "1001-10000"))


def batch_class(rows: int) -> str:
    """The ``batch`` label of an inference call of ``rows`` rows: 1, 2-100, ... >10000."""
    return next((label for most, label in _BATCH_CLASSES if rows <= most), ">10000")


def inference_histogram(registry: CollectorRegistry, service: str) -> BatchHistogram:
    """``volstream_<service>_inference_seconds`` by backend and batch size class."""
    return BatchHistogram(
        f"volstream_{service}_inference_seconds",
        "Time of one inference call, by the backend that ran it and the batch size class.",
        INFERENCE_BUCKETS,
        registry,
        ["backend", "batch"],
    )


@dataclass(frozen=True)
class ServedModelMetrics:
    """The model a service serves, and how following the registry goes.

    The consumer and the API export the same three series; Prometheus's ``job``
    label tells them apart.
    """

    info: Gauge
    load_seconds: Gauge
    reloads: Counter

    @classmethod
    def build(cls, registry: CollectorRegistry) -> ServedModelMetrics:
        metrics = cls(
            info=Gauge("volstream_model_info", "The model that serves (always 1).",
                       ["version", "variant", "backend"], registry=registry),
            load_seconds=Gauge("volstream_model_load_seconds",
                               "Time it took to load the model.", registry=registry),
            reloads=Counter("volstream_model_reloads",
                            "Registry changes followed: loaded, or failed (old model kept).",
                            ["result"], registry=registry),
        )  # fmt: skip
        for result in ("loaded", "failed"):
            metrics.reloads.labels(result)
        return metrics

    def show(self, info: ModelInfo) -> None:
        """Show ``info`` as the only model serving."""
        self.info.clear()
        self.info.labels(info.version, info.variant, info.backend).set(1)
        self.load_seconds.set(info.load_seconds)


def bucket_quantile(buckets: Sequence[tuple[float, float]], q: float) -> float | None:
    """The ``q`` quantile of a histogram's cumulative (upper edge, count) buckets.

    Interpolated linearly inside its bucket, as PromQL's ``histogram_quantile`` does;
    None for an empty histogram.
    """
    ordered = sorted(buckets)
    count = ordered[-1][1] if ordered else 0.0
    if count <= 0:
        return None
    lower, below = 0.0, 0.0
    for edge, cumulative in ordered:
        if cumulative >= q * count:
            if math.isinf(edge):
                return lower
            inside = cumulative - below
            return lower + (edge - lower) * ((q * count - below) / inside if inside else 1.0)
        lower, below = edge, cumulative
    return lower
