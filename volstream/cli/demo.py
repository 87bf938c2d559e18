"""``volstream demo``: the whole pipeline on one machine, on the embedded broker."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Annotated

import typer

from volstream.cli.options import described
from volstream.errors import VolstreamError
from volstream.kafka.admin import ensure_topics
from volstream.kafka.embedded import EmbeddedBroker
from volstream.lifecycle import install_stop_handlers
from volstream.local_prometheus import prometheus_child
from volstream.settings import (
    ApiSettings,
    BrokerSettings,
    CanarySettings,
    ConsumerSettings,
    DriftSettings,
    EvaluateSettings,
    KafkaSettings,
    ModelSettings,
    ProducerSettings,
    TrainSettings,
    load,
)
from volstream.supervisor import Child, Supervisor, wait_for_http

log = logging.getLogger(__name__)
DEMO_DRIFT_SECONDS = 60
DEMO_PATH_SEED = 8
# Tansu lists every batch a partition stores on each fetch, and deletes nothing: its cost
# grows with batches stored x fetches. At the demo's rate, bigger batches and rarer fetches
# keep the p99 flat where the defaults let it climb (docs/benchmarks.md, the demo).
# Properties the user sets win.
EMBEDDED_BROKER_TUNING = {"linger_ms": 100, "fetch_wait_ms": 50}  # KafkaSettings fields
_LIBRDKAFKA_NAMES = {"linger_ms": "linger.ms", "fetch_wait_ms": "fetch.wait.max.ms"}


def demo(
    port: Annotated[int | None, typer.Option(help=described(BrokerSettings, "port"))] = None,
    rate: Annotated[float | None, typer.Option(help=described(ProducerSettings, "rate"))] = None,
    prometheus_port: Annotated[
        int,
        typer.Option(
            envvar="VOLSTREAM_DEMO_PROMETHEUS_PORT",
            help="Port of the demo's Prometheus (when `prometheus` is on the PATH).",
        ),
    ] = 9090,
) -> None:
    """Run the pipeline on the embedded broker until Ctrl-C.

    Trains a model when the registry has none, starts the broker and creates the
    topics, then runs the consumer, the API, the drift job (a pass a minute), the
    evaluator (outcomes and live quality), the canary (a marker through every
    partition and back), a
    Prometheus with the repository's SLO rules (when `prometheus` is on the PATH)
    and a synthetic producer as child processes, their output prefixed with their
    names.
    Ctrl-C stops them in order (producer first, so the consumer drains what was
    sent) and the broker last. The embedded broker slows as it fills; the
    children batch more than the defaults (linger.ms 100, fetch.wait.max.ms 50,
    unless set) so that it lasts longer (docs/architecture.md).
    """
    broker_settings = load(BrokerSettings, port=port)
    training = load(TrainSettings)
    # The producer streams the training market on another path: what drift should call normal.
    producer = load(ProducerSettings, rate=rate or training.tick_rate)
    consumer, api, drift = load(ConsumerSettings), load(ApiSettings), load(DriftSettings)
    evaluator, canary = load(EvaluateSettings), load(CanarySettings)
    ensure_model(load(ModelSettings))
    stop = install_stop_handlers()
    supervisor = Supervisor()
    with (
        EmbeddedBroker(broker_settings) as broker,
        TemporaryDirectory(prefix="volstream-demo-") as workdir,
    ):
        ensure_topics(broker.kafka_settings())
        tuning = children_tuning()
        env = {"VOLSTREAM_KAFKA_BOOTSTRAP": broker.bootstrap, **tuning}
        try:
            supervisor.start(Child.volstream("consumer", ["consume"], env))
            supervisor.start(Child.volstream("api", ["api"], env))
            supervisor.start(
                Child.volstream("drift", ["drift", "--interval", str(DEMO_DRIFT_SECONDS)], env)
            )
            supervisor.start(Child.volstream("evaluator", ["evaluate"], env))
            supervisor.start(Child.volstream("canary", ["canary"], env))
            api_url = f"http://{api.host}:{api.port}"
            targets = {"producer": producer.metrics_port, "consumer": consumer.metrics_port,
                       "api": api.port, "drift": drift.metrics_port,
                       "evaluator": evaluator.metrics_port,
                       "canary": canary.metrics_port}  # fmt: skip
            prometheus = prometheus_child(Path(workdir), prometheus_port, targets)
            if isinstance(prometheus, Child):
                supervisor.start(prometheus)
            wait_for_http(f"{api_url}/health", timeout=30)
            produce = [
                "produce",
                "--source",
                "synthetic",
                "--symbols",
                str(training.symbols),
                "--rate",
                str(producer.rate),
                "--path-seed",
                str(DEMO_PATH_SEED),
            ]
            supervisor.start(Child.volstream("producer", produce, env))
            log.info("demo: broker at %s; streaming synthetic ticks at %g/s over %s symbols "
                     "(the training market, path seed %d), Ctrl-C stops", broker.bootstrap,
                     producer.rate, training.symbols, DEMO_PATH_SEED)  # fmt: skip
            if tuning:
                log.info("demo: for the embedded broker's sake, clients run with %s "
                         "(it slows as it fills; see docs/architecture.md)",
                         ", ".join(f"{k}={v}" for k, v in tuning.items()))  # fmt: skip
            log.info("demo: API %s (docs %s/docs)", api_url, api_url)
            log.info("demo: metrics at http://127.0.0.1:%d/metrics (producer), "
                     "http://127.0.0.1:%d/metrics (consumer), %s/metrics (API), "
                     "http://127.0.0.1:%d/metrics (drift), http://127.0.0.1:%d/metrics "
                     "(evaluator: live quality from a minute in), "
                     "http://127.0.0.1:%d/metrics (canary)", producer.metrics_port,
                     consumer.metrics_port, api_url, drift.metrics_port,
                     evaluator.metrics_port, canary.metrics_port)  # fmt: skip
            log.info("demo: a drift pass every %d s; the report at %s/drift/report",
                     DEMO_DRIFT_SECONDS, api_url)  # fmt: skip
            if isinstance(prometheus, Child):
                log.info("demo: Prometheus at http://127.0.0.1:%d (targets: /targets, "
                         "alerts: /alerts)", prometheus_port)  # fmt: skip
            else:
                log.info("demo: no Prometheus: %s", prometheus)
            exited = supervisor.wait(stop)
            if exited and exited.process:
                log.error("demo: %s exited with code %s; stopping the rest",
                          exited.name, exited.process.returncode)  # fmt: skip
        finally:
            codes = supervisor.stop_all()
    typer.echo("demo stopped: " + ", ".join(f"{name} exit {code}" for name, code in codes.items()))
    if any(codes.values()):
        raise typer.Exit(1)


def children_tuning() -> dict[str, str]:
    """``EMBEDDED_BROKER_TUNING`` as environment variables, less what the user set (as a
    setting, or as the librdkafka property itself)."""
    user = load(KafkaSettings)
    return {
        f"VOLSTREAM_KAFKA_{field.upper()}": str(value)
        for field, value in EMBEDDED_BROKER_TUNING.items()
        if field not in user.model_fields_set and _LIBRDKAFKA_NAMES[field] not in user.properties
    }


def ensure_model(settings: ModelSettings) -> None:
    """Train a model (``volstream train``, TrainSettings from the environment) when the
    registry has no current one.

    In a child process: training holds the whole history in memory, which the
    supervisor, running for hours, should not keep.
    """
    from volstream.model.registry import ModelRegistry

    registry = ModelRegistry(settings.registry)
    if registry.current_name():
        log.info("demo: serving model %s from %s", registry.current_name(), settings.registry)
        return
    log.info("demo: no model in %s yet; training one (about 20 s)", settings.registry)
    command = [sys.executable, "-m", "volstream", "train", "--registry", str(settings.registry)]
    if subprocess.run(command, check=False).returncode != 0:  # noqa: S603 - our own command
        msg = "training the demo's model failed (its error is above)"
        raise VolstreamError(msg)
    log.info("demo: trained model %s", registry.current_name())
