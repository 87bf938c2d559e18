"""Metric helpers shared by the services.

Each service builds its metrics with a function that takes a registry, so tests
use a fresh ``CollectorRegistry``. Observations on hot paths are made per batch:
:class:`BatchHistogram` takes a whole array of values in one call.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final
from wsgiref.simple_server import WSGIServer

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from volstream.errors import ConfigError

__all__ = [
    "LATENCY_BUCKETS",
    "PROBABILITY_BUCKETS",
    "BatchHistogram",
    "MetricsServer",
    "batch_class",
    "inference_histogram",
    "serve_metrics",
]

#: Seconds, from a millisecond up to a minute; 0.1 and 5 are edges the SLO rules use, and
#: the edges around 0.1 are close so that a p99 near it is read from the histogram closely.
LATENCY_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0, 60.0,
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


@dataclass
class MetricsServer:
    """A running /metrics endpoint."""

    url: str
    _server: WSGIServer

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


def serve_metrics(
    registry: CollectorRegistry,
    port: int,
    host: str = "0.0.0.0",  # noqa: S104
) -> MetricsServer | None:
    """Serve ``registry`` at ``http://host:port/metrics`` in a thread; port 0 serves nothing."""
    if port == 0:
        return None
    try:
        server, _ = start_http_server(port, addr=host, registry=registry)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            msg = f"metrics port {port} is already in use; choose another"
            raise ConfigError(msg) from e
        msg = f"cannot serve metrics on {host}:{port}: {e.strerror}"
        raise ConfigError(msg) from e
    shown = "127.0.0.1" if host == "0.0.0.0" else host  # noqa: S104
    return MetricsServer(f"http://{shown}:{port}/metrics", server)


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
