"""The drift job on a real broker: no drift in the training regime, drift after a regime change.

The model is trained on 30 minutes of a 100-symbol synthetic market at 200
ticks/s (seed 7). The stream is 15 minutes of the same market (seed 7, path
seed 8: the same symbols on another path), sent 1000 times faster than real
time and back-dated to end now, through the real consumer; the drift job then
judges the newest 100,000 predictions.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from volstream.drift.main import run, run_pass
from volstream.drift.metrics import build_drift_metrics
from volstream.kafka.embedded import free_port
from volstream.model.registry import ModelRegistry
from volstream.settings import DriftSettings, KafkaSettings, ModelSettings, TrainSettings
from volstream.testing import (
    consume_to_end,
    http_status,
    produce_synthetic,
    program,
    sample,
    stop_process,
    wait_for,
)

pytestmark = pytest.mark.kafka
VOLATILITY = ["rv_10s", "rv_30s", "rv_60s"]


@pytest.fixture(scope="module")
def drift_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from volstream.model.training import train

    registry = tmp_path_factory.mktemp("drift-models")
    train(TrainSettings(duration_seconds=1800, symbols=100, tick_rate=200),
          ModelSettings(registry=registry))  # fmt: skip
    return registry


def stream(kafka: KafkaSettings, registry: Path, volatility_scale: float) -> None:
    produce_synthetic(kafka, 180_000, symbols="100", rate=200, speed=1000, seed=7, path_seed=8,
                      volatility_scale=volatility_scale)  # fmt: skip
    consume_to_end(kafka, registry, group="drift")


def drift_metrics(kafka: KafkaSettings, registry: Path, reports: Path) -> str:
    """Run `volstream drift` until its first pass shows on /metrics; that page."""
    port = free_port()
    env = {**os.environ, "VOLSTREAM_KAFKA_PREDICTIONS_TOPIC": kafka.predictions_topic,
           "VOLSTREAM_DRIFT_WINDOW_MINUTES": "30"}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "volstream", "drift", "--bootstrap", kafka.bootstrap,
         "--registry", str(registry), "--metrics-port", str(port), "--reports-dir", str(reports)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    page = ""

    def passed() -> bool:
        nonlocal page
        try:
            page = (
                urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
                .read()
                .decode()
            )
        except OSError:
            return False
        return sample(page, "volstream_drift_last_success_timestamp_seconds") > 0

    try:
        wait_for(passed, 120, "the first drift pass")
    finally:
        output = stop_process(process)
    assert "drift: " in output and "features drifted" in output
    return page


def test_no_dataset_drift_in_the_training_regime(
    kafka: KafkaSettings, drift_registry: Path, tmp_path: Path
) -> None:
    stream(kafka, drift_registry, volatility_scale=1.0)
    page = drift_metrics(kafka, drift_registry, tmp_path)
    assert sample(page, "volstream_drift_dataset_drift") == 0
    assert sample(page, "volstream_drift_drifted_features_share") < 0.5
    assert sample(page, "volstream_drift_current_rows") == pytest.approx(100_000, rel=0.01)
    summary = json.loads((tmp_path / "latest.json").read_text())
    assert summary["dataset_drift"] is False
    assert summary["model_version"] == ModelRegistry(drift_registry).current().name


def test_a_volatility_regime_change_is_detected(
    kafka: KafkaSettings, drift_registry: Path, tmp_path: Path
) -> None:
    stream(kafka, drift_registry, volatility_scale=3.0)
    page = drift_metrics(kafka, drift_registry, tmp_path)
    assert sample(page, "volstream_drift_dataset_drift") == 1
    for feature in VOLATILITY:
        assert sample(page, "volstream_drift_feature_detected", feature=feature) == 1
        assert sample(page, "volstream_drift_feature_score", feature=feature) > 0.1
    assert sample(page, "volstream_drift_prediction_detected") == 1
    summary = json.loads((tmp_path / "latest.json").read_text())
    assert set(VOLATILITY) <= set(summary["drifted_features"])
    assert (tmp_path / summary["report"]).is_file()
    report_in_a_browser(tmp_path / "latest.html", tmp_path / "report.png")


def report_in_a_browser(report: Path, screenshot: Path) -> None:
    """Headless Chromium renders the report: its title, the drift table, a screenshot."""
    chromium = program("chromium", "chromium-browser", "google-chrome")
    common = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
              "--virtual-time-budget=10000", "--window-size=1400,1800"]  # fmt: skip
    dom = subprocess.run([*common, "--dump-dom", report.as_uri()], capture_output=True,
                         text=True, timeout=120, check=True).stdout  # fmt: skip
    assert "<title>volstream drift report " in dom
    table = dom[dom.index('<table class="MuiTable-root') :]
    assert ">rv_60s<" in table and ">Detected<" in table
    subprocess.run([*common, f"--screenshot={screenshot}", report.as_uri()],
                   capture_output=True, timeout=120, check=True)  # fmt: skip
    assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_too_little_data_is_a_skipped_pass_and_the_warm_up_is_left_out(
    kafka: KafkaSettings, small_registry: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    produce_synthetic(kafka, 300, symbols="3", rate=2, speed=1000)  # 150 s of event time
    consume_to_end(kafka, small_registry, group="drift-skip")
    metrics = build_drift_metrics(registry := CollectorRegistry())
    settings = DriftSettings(reports_dir=tmp_path, min_rows=1000)
    with caplog.at_level("INFO"):
        result = run_pass(kafka, settings, ModelSettings(registry=small_registry), metrics)
    assert result is None
    assert registry.get_sample_value("volstream_drift_last_run_skipped") == 1
    rows = registry.get_sample_value("volstream_drift_current_rows")
    assert rows is not None and 120 < rows < 240  # the stream's first minute is not judged
    assert f"its first minute ({300 - rows:.0f} predictions, the features' warm-up)" in caplog.text
    assert registry.get_sample_value("volstream_drift_run_failures_total") == 0
    assert f"skipped: {rows:.0f} predictions in the window, fewer than 1000" in caplog.text
    assert not list(tmp_path.iterdir())


def run_once(
    registry: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "volstream", "drift", "--once", "--registry", str(registry), *extra],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_a_reference_that_does_not_fit_the_model_stops_with_one_line(
    small_registry: Path, tmp_path: Path
) -> None:
    registry = tmp_path / "models"
    shutil.copytree(small_registry, registry)
    reference = ModelRegistry(registry).current().reference_file
    pd.read_parquet(reference).drop(columns=["rv_60s"]).to_parquet(reference)
    result = run_once(registry)
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("volstream: error: the drift reference ")
    assert "retrain with `volstream train`" in line


def test_the_scheduled_job_waits_for_a_first_model(
    kafka: KafkaSettings, small_registry: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Started before the first model is trained (compose starts services in any order)."""
    registry, stop = tmp_path / "models", threading.Event()
    settings = DriftSettings(reports_dir=tmp_path / "reports", metrics_port=0)
    model = ModelSettings(registry=registry)
    job = threading.Thread(target=run, args=(kafka, settings, model, stop))
    with caplog.at_level("INFO"):
        job.start()
        time.sleep(1.5)
        assert job.is_alive()
        assert "waiting for a model: no current model" in caplog.text
        shutil.copytree(small_registry, registry)
        deadline = time.monotonic() + 20
        while "drift: a pass every" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.2)
        stop.set()
        job.join(30)
    assert "drift: a pass every" in caplog.text
    assert not job.is_alive()


def test_an_unknown_stat_test_stops_with_one_line(small_registry: Path) -> None:
    result = run_once(small_registry, env={"VOLSTREAM_DRIFT_METHOD": "astrology"})
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "volstream: error: unknown drift method 'astrology' (VOLSTREAM_DRIFT_METHOD); known: "
        )
    )


def predictions_past_the_first_minute(kafka: KafkaSettings, ticks: int) -> int:
    """Predictions a window judges once the stream's first minute (its warm-up) is left out."""
    from volstream.predictions import decode_heads
    from volstream.testing import read_all

    records = read_all(kafka, kafka.predictions_topic, ticks)
    times = [head.event_time_ms for head in decode_heads([m.value() for m in records]) if head]
    return sum(1 for t in times if t >= min(times) + 60_000)


def test_once_pushes_the_gauges_to_a_pushgateway(
    kafka: KafkaSettings, small_registry: Path, tmp_path: Path
) -> None:
    gateway = program("prometheus-pushgateway", "pushgateway")
    produce_synthetic(kafka, 3000, symbols="5", rate=20, speed=1000)  # 150 s of event time
    consume_to_end(kafka, small_registry, group="drift-push")
    judged = predictions_past_the_first_minute(kafka, 3000)
    port = free_port()
    server = subprocess.Popen([gateway, f"--web.listen-address=127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: http_status(f"{url}/-/ready") == 200, 30, "the pushgateway")
        topic = {"VOLSTREAM_KAFKA_PREDICTIONS_TOPIC": kafka.predictions_topic}
        result = run_once(small_registry, "--pushgateway", url, "--bootstrap", kafka.bootstrap,
                          "--reports-dir", str(tmp_path), env=topic)  # fmt: skip
        assert result.returncode == 0, result.stderr
        page = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()  # noqa: S310
    finally:
        server.terminate()
        server.wait(10)
    assert 1000 < judged < 3000
    assert sample(page, "volstream_drift_current_rows", job="volstream_drift") == judged
    assert sample(page, "volstream_drift_last_success_timestamp_seconds", job="volstream_drift") > 0


def test_a_window_of_a_live_topic_is_read_in_bounded_time(
    kafka: KafkaSettings, small_registry: Path
) -> None:
    """Predictions keep arriving while the window is read: the read still ends."""
    from confluent_kafka import Producer

    from volstream.drift.window import read_window
    from volstream.testing import read_all

    produce_synthetic(kafka, 3000, symbols="5", rate=20, speed=1000)  # 150 s of event time
    consume_to_end(kafka, small_registry, group="drift-live")
    judged = predictions_past_the_first_minute(kafka, 3000)
    record = read_all(kafka, kafka.predictions_topic, 3000)[-1]
    stop_sending = threading.Event()

    def keep_sending() -> None:
        producer = Producer(kafka.client_config())
        while not stop_sending.wait(0.001):
            producer.produce(kafka.predictions_topic, record.value(), record.key())
            producer.poll(0)
        producer.flush(5)

    sender = threading.Thread(target=keep_sending)
    sender.start()
    try:
        time.sleep(1)
        started = time.monotonic()
        window = read_window(kafka, DriftSettings(window_minutes=60))
        took = time.monotonic() - started
    finally:
        stop_sending.set()
        sender.join(10)
    assert len(window) >= judged  # and the copies of the last prediction sent meanwhile
    assert took < 10
