"""The test kit itself: the fakes keep the broker's promises; a missing program fails in CI."""

from __future__ import annotations

import pytest

from volstream.testing import FakeBroker, MemorySource, program, synthetic_ticks
from volstream.testing.fakes import FakeConsumer


def test_a_key_stays_on_one_partition_and_offsets_count_from_zero() -> None:
    broker = FakeBroker()
    broker.create("t", 4)
    for i in range(40):
        broker.append("t", b"v", f"k{i % 5}".encode(), i)
    for log in broker.topics["t"]:
        assert [m.offset() for m in log] == list(range(len(log)))
        assert len({m.key() for m in log}) <= 5
    assert len({(m.key(), m.partition()) for m in broker.messages("t")}) == 5


def test_a_group_resumes_from_its_committed_offsets() -> None:
    broker = FakeBroker()
    broker.create("t", 2)
    for i in range(10):
        broker.append("t", str(i).encode(), partition=i % 2)
    first = FakeConsumer(broker, "g", {})
    first.subscribe(["t"])
    taken = first.consume(4)
    assert len(taken) == 4
    first.commit(offsets=None, message=taken[-1], asynchronous=False)
    second = FakeConsumer(broker, "g", {})
    second.subscribe(["t"])
    rest = second.consume(100)
    last = taken[-1]
    assert all(m.offset() > last.offset() for m in rest if m.partition() == last.partition())


def test_the_memory_source_keeps_order_in_batches() -> None:
    ticks = synthetic_ticks(1234, symbols=3)
    batches = list(MemorySource(ticks, batch_size=500).batches())
    assert [len(b) for b in batches] == [500, 500, 234]
    assert [t for b in batches for t in b.to_ticks()] == ticks


def test_a_missing_program_skips_here_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOLSTREAM_REQUIRE_TOOLS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-program is not installed"):
        program("no-such-program")
    monkeypatch.setenv("VOLSTREAM_REQUIRE_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match="no-such-program is not installed"):
        program("no-such-program")
