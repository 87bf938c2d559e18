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


def test_one_look_state_is_ok_within_one_batch_of_a_live_group() -> None:
    from volstream.lag import PartitionLag

    def row(lag: int, active: bool = True) -> PartitionLag:
        return PartitionLag("t", 0, 100, 100 + lag, lag, 0.1, "", active, batch=10)

    assert [row(0).state, row(1).state, row(10).state, row(11).state] == [
        "ok",
        "ok",
        "ok",
        "lagging",
    ]
    assert row(1, active=False).state == "stopped"  # nobody consumes: small is not ok


def test_lag_notes_explain_a_low_watermark_and_missing_owners() -> None:
    from volstream.cli.consume import lag_notes
    from volstream.lag import PartitionLag

    low = PartitionLag("t", 0, 3138, 3138, 0, 0.0, "", True, 10, watermark_read_low=True)
    notes = lag_notes([low], described=False, batch=10)
    assert notes[0].startswith("state: ok within one batch (10 records")
    assert any(n.startswith("* the broker read the watermark below") for n in notes)
    assert any("did not describe the group" in n for n in notes)
