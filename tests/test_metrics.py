from __future__ import annotations

import urllib.request

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from volstream.kafka.embedded import free_port
from volstream.metrics import LATENCY_BUCKETS, BatchHistogram, serve_metrics


def test_batch_histogram_matches_prometheus_histogram() -> None:
    values = np.random.default_rng(0).exponential(0.2, 1000)
    values[:3] = [0.1, 5.0, 0.0]  # on bucket edges: counted as <= edge
    reference_registry, batch_registry = CollectorRegistry(), CollectorRegistry()
    reference = Histogram(
        "x_seconds", "x", ["topic"], buckets=LATENCY_BUCKETS, registry=reference_registry
    )
    for value in values:
        reference.labels("t").observe(value)
    batch = BatchHistogram("x_seconds", "x", LATENCY_BUCKETS, batch_registry, ["topic"])
    batch.observe_many(values[:400], "t")
    batch.observe_many(values[400:], "t")

    def samples(registry: CollectorRegistry) -> dict[str, float]:
        return {
            f"{s.name}{sorted(s.labels.items())}": s.value
            for m in registry.collect() for s in m.samples if not s.name.endswith("_created")
        }  # fmt: skip

    got, want = samples(batch_registry), samples(reference_registry)
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key]), key
    assert b'le="0.1"' in generate_latest(batch_registry)
    assert b'le="5.0"' in generate_latest(batch_registry)


def test_series_can_exist_before_use_and_be_removed() -> None:
    registry = CollectorRegistry()
    histogram = BatchHistogram("y_seconds", "y", [1.0], registry, ["partition"])
    histogram.labels("0")
    assert registry.get_sample_value("y_seconds_count", {"partition": "0"}) == 0
    histogram.observe_many([], "0")
    histogram.remove("0")
    assert registry.get_sample_value("y_seconds_count", {"partition": "0"}) is None
    with pytest.raises(ValueError, match="takes labels"):
        histogram.observe_many([1.0])


def test_observe_repeated_counts_one_value_many_times() -> None:
    registry = CollectorRegistry()
    histogram = BatchHistogram("z_seconds", "z", LATENCY_BUCKETS, registry, ["topic"])
    histogram.observe_repeated(0.1, 500, "t")
    histogram.observe_repeated(0.2, 0, "t")
    assert registry.get_sample_value("z_seconds_bucket", {"topic": "t", "le": "0.05"}) == 0
    assert registry.get_sample_value("z_seconds_bucket", {"topic": "t", "le": "0.1"}) == 500
    assert registry.get_sample_value("z_seconds_sum", {"topic": "t"}) == pytest.approx(50.0)


def test_bucket_quantile_interpolates_inside_its_bucket() -> None:
    from volstream.metrics import bucket_quantile

    buckets = [(0.1, 50.0), (0.2, 100.0), (float("inf"), 100.0)]
    assert bucket_quantile(buckets, 0.25) == pytest.approx(0.05)
    assert bucket_quantile(buckets, 0.75) == pytest.approx(0.15)
    assert bucket_quantile([(0.1, 0.0), (float("inf"), 5.0)], 0.5) == 0.1  # past the last edge
    assert bucket_quantile([(0.1, 0.0), (float("inf"), 0.0)], 0.5) is None


def test_latency_buckets_show_creep_between_50_and_150_ms() -> None:
    from volstream.metrics import bucket_quantile

    for true_p99 in (0.065, 0.095, 0.12, 0.14):
        registry = CollectorRegistry()
        histogram = BatchHistogram("e2e_seconds", "x", LATENCY_BUCKETS, registry)
        histogram.observe_many(np.full(1000, true_p99))
        buckets = [(float(s.labels["le"]), s.value) for m in registry.collect()
                   for s in m.samples if s.name == "e2e_seconds_bucket"]  # fmt: skip
        read = bucket_quantile(buckets, 0.99)
        assert read is not None and abs(read - true_p99) <= 0.0125, (true_p99, read)
    assert {0.1, 5.0} <= set(LATENCY_BUCKETS)  # the SLO rules' edges


def test_the_metrics_endpoint_logs_the_address_it_bound(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    with caplog.at_level("INFO"), serve_metrics(CollectorRegistry(), port, "probe") as url:
        assert url == f"http://127.0.0.1:{port}/metrics"
        assert urllib.request.urlopen(url, timeout=5).status == 200  # noqa: S310
    assert f"probe metrics at http://0.0.0.0:{port}/metrics (every interface)" in caplog.messages
    with caplog.at_level("INFO"), serve_metrics(CollectorRegistry(), port, "probe", "127.0.0.1"):
        pass
    assert f"probe metrics at http://127.0.0.1:{port}/metrics" in caplog.messages
