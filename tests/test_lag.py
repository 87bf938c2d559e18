from __future__ import annotations

from prometheus_client import CollectorRegistry

from volstream.consumer.lag import LagCollector, LagTracker
from volstream.lag import Health, LagSample, judge, offset_lag


def test_offset_lag_is_never_negative() -> None:
    assert offset_lag(100, 40) == 60
    assert offset_lag(100, 130) == 0  # committed above a watermark read earlier
    assert offset_lag(-1, 10) == 0  # watermark unknown
    assert offset_lag(50, -1) == 50  # nothing committed yet


def samples(*points: tuple[float, int, int]) -> list[LagSample]:
    return [LagSample(at, committed, lag) for at, committed, lag in points]


def test_health_rules() -> None:
    window, stopped = 60.0, 30.0
    idle = samples((0, 10, 0), (70, 10, 0))
    assert judge(idle, 70, last_commit=0, window=window, stopped_after=stopped) == Health.OK
    stuck = samples((0, 10, 5), (30, 10, 9), (70, 10, 12))
    assert judge(stuck, 70, last_commit=65, window=window, stopped_after=stopped) == Health.STALLED
    assert judge(stuck, 70, last_commit=10, window=window, stopped_after=stopped) == Health.STOPPED
    growing = samples((0, 10, 5), (30, 20, 9), (70, 30, 12))
    assert (
        judge(growing, 70, last_commit=69, window=window, stopped_after=stopped) == Health.WARNING
    )
    keeping_up = samples((0, 10, 5), (30, 20, 9), (70, 30, 4))
    assert judge(keeping_up, 70, last_commit=69, window=window, stopped_after=stopped) == Health.OK
    young = samples((60, 10, 5), (70, 10, 6))
    assert judge(young, 70, last_commit=69, window=window, stopped_after=stopped) == Health.OK


def test_collector_exports_owned_partitions_and_drops_revoked_ones() -> None:
    registry = CollectorRegistry()
    tracker = LagTracker(window=60, stopped_after=30)
    LagCollector(tracker, "ticks", "g", registry)
    tracker.assign([0, 1], {0: 10, 1: -1})
    tracker.watermarks({0: 25, 1: 7}, {})
    labels = {"group": "g", "topic": "ticks", "partition": "0"}
    assert registry.get_sample_value("volstream_consumer_lag_records", labels) == 15
    assert (
        registry.get_sample_value("volstream_consumer_lag_records", {**labels, "partition": "1"})
        == 7
    )
    assert registry.get_sample_value("volstream_consumer_group_lag_records", {"group": "g"}) == 22
    tracker.processed({0: 24}, {0: 1_000}, 15)
    tracker.committed({0: 25})
    tracker.watermarks({0: 25}, {})
    assert registry.get_sample_value("volstream_consumer_lag_records", labels) == 0
    assert registry.get_sample_value("volstream_consumer_lag_seconds", labels) == 0
    tracker.revoke([0])
    assert registry.get_sample_value("volstream_consumer_lag_records", labels) is None
    assert (
        registry.get_sample_value("volstream_consumer_position", {**labels, "partition": "1"}) == -1
    )
