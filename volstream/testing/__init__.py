"""volstream's test kit: what its own tests use, public for anyone writing a stage.

Without a broker (pure tests, milliseconds):

- :class:`FakeBroker` holds topics in memory; ``broker.clients()`` gives a service
  fake consumers and producers in place of librdkafka's, through the ``clients``
  argument of :class:`~volstream.consumer.stream.StreamConsumer`,
  :class:`~volstream.kafka.outbox.Outbox`, ``TickPublisher`` and ``consumer.main.build``.
- :func:`synthetic_ticks`, :class:`MemorySource` (a tick source) and
  :func:`publish_ticks` feed ticks in; :class:`PredictionSink` reads predictions out.
- :func:`train_tiny_model` puts a small trained model in a registry;
  :class:`ConstantPredictor` scores without one.
- :class:`MetricsReader` reads a fresh ``CollectorRegistry``; :func:`sample` a
  /metrics page.

With a real broker (the embedded one by default): :func:`fresh_topics`,
:func:`read_all`, and the services in-process with test settings
(:func:`produce_synthetic`, :func:`consume_to_end`). Child processes:
:func:`wait_for`, :func:`stop_process`, :func:`http_status`; programs a test
drives: :func:`program`; alert rules judged by promtool on series recorded from
a real run: :mod:`volstream.testing.prometheus`. Tick documents, good and bad, are in
:mod:`volstream.testing.payloads`; a stream with known data-quality faults in
:mod:`volstream.testing.faults`; a fake NVML is :class:`FakeNvml`.
docs/testing.md shows them at work.
"""

from volstream.testing.fakes import FakeBroker, FakeConsumer, FakeMessage, FakeProducer
from volstream.testing.kafka import fresh_topics, read_all
from volstream.testing.memory import MemorySource, PredictionSink, publish_ticks, synthetic_ticks
from volstream.testing.metrics import MetricsReader, sample
from volstream.testing.models import ConstantPredictor, train_tiny_model
from volstream.testing.nvml import FakeNvml
from volstream.testing.processes import http_status, start_consumer, stop_process, wait_for
from volstream.testing.programs import program
from volstream.testing.stages import consume_to_end, produce_synthetic

__all__ = [
    "ConstantPredictor",
    "FakeBroker",
    "FakeConsumer",
    "FakeMessage",
    "FakeNvml",
    "FakeProducer",
    "MemorySource",
    "MetricsReader",
    "PredictionSink",
    "consume_to_end",
    "fresh_topics",
    "http_status",
    "produce_synthetic",
    "program",
    "publish_ticks",
    "read_all",
    "sample",
    "start_consumer",
    "stop_process",
    "synthetic_ticks",
    "train_tiny_model",
    "wait_for",
]
