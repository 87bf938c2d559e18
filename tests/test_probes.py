from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from volstream.consumer.lag import LagTracker
from volstream.consumer.probes import ConsumerProbes
from volstream.kafka.embedded import free_port
from volstream.metrics import serve_metrics


def test_the_consumer_is_alive_while_its_loop_goes_round() -> None:
    tracker = LagTracker(window=60, stopped_after=30)
    probes = ConsumerProbes(tracker, stuck_after=5)
    assert probes.health() == (True, "starting: the batch loop has not started yet")
    tracker.turn()
    assert probes.health() == (True, "ok")
    tracker.turned_at = time.monotonic() - 7
    assert probes.health() == (False, "stuck: the batch loop has not gone round for 7 s")


def test_the_consumer_is_ready_when_assigned_and_nothing_is_stalled() -> None:
    tracker = LagTracker(window=60, stopped_after=30)
    probes = ConsumerProbes(tracker)
    assert probes.ready() == (False, "not ready: no partition assigned")
    tracker.assign([0, 1, 2], {0: 10, 1: 10, 2: 10})
    tracker.watermarks({0: 10, 1: 10, 2: 10}, {})
    assert probes.ready() == (True, "ready: 3 partitions assigned")
    tracker.watermarks({0: 10, 1: 50, 2: 90}, {})  # behind, with the last commit 31 s old
    tracker.last_commit = time.time() - 31
    assert probes.ready() == (False, "not ready: partitions 1, 2 stalled or stopped")
    tracker.revoke([1, 2])
    assert probes.ready() == (True, "ready: 1 partition assigned")


def test_probes_are_served_beside_the_metrics() -> None:
    answers = {"/ready": lambda: (False, "not ready: no partition assigned")}
    with serve_metrics(CollectorRegistry(), free_port(), "probe", probes=answers) as url:
        assert url is not None
        root = url.removesuffix("/metrics")
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(f"{root}/ready", timeout=5)  # noqa: S310
        assert (failed.value.code, failed.value.read()) == (
            503,
            b"not ready: no partition assigned\n",
        )
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            assert response.headers["Content-Type"].startswith("text/plain; version=")
