"""The API as a user runs it: `volstream api` on a free port, a real broker, the consumer first."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from volstream.features import FEATURE_NAMES
from volstream.kafka.embedded import free_port
from volstream.model.registry import ModelRegistry
from volstream.predictions import Prediction, decode_prediction
from volstream.settings import KafkaSettings
from volstream.testing import consume_to_end, produce_synthetic, read_all, stop_process, wait_for

pytestmark = pytest.mark.kafka


def get(port: int, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
    except OSError:
        return 0, None


def start_api(kafka: KafkaSettings, registry: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "VOLSTREAM_KAFKA_PREDICTIONS_TOPIC": kafka.predictions_topic,
           "VOLSTREAM_API_BROKER_CHECK_SECONDS": "1"}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "volstream", "api", "--port", str(port),
         "--bootstrap", kafka.bootstrap, "--registry", str(registry)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip


def latest_by_symbol(kafka: KafkaSettings, expected: int) -> dict[str, Prediction]:
    latest: dict[str, Prediction] = {}
    for message in read_all(kafka, kafka.predictions_topic, expected):
        prediction = decode_prediction(message.value())  # type: ignore[arg-type]
        known = latest.get(prediction.symbol)
        if known is None or prediction.event_time_ms >= known.event_time_ms:
            latest[prediction.symbol] = prediction
    return latest


def test_predict_symbol_serves_the_latest_streamed_features(
    kafka: KafkaSettings, small_registry: Path
) -> None:
    produce_synthetic(kafka, 2000, symbols="4")
    consume_to_end(kafka, small_registry, group="api-first")
    port = free_port()
    api = start_api(kafka, small_registry, port)
    try:
        wait_for(lambda: get(port, "/ready")[0] == 200, 30, "the API to be ready")
        booster = lgb.Booster(model_file=str(ModelRegistry(small_registry).current().model_file))
        latest = latest_by_symbol(kafka, 2000)
        assert len(latest) == 4
        wait_for(lambda: all(get(port, f"/predict/{s}")[0] == 200 for s in latest), 15,
                 "the API to have read the tail")  # fmt: skip
        for symbol, streamed in latest.items():
            status, answer = get(port, f"/predict/{symbol}")
            assert status == 200
            features = [getattr(streamed.features, name) for name in FEATURE_NAMES]
            assert [answer["features"][name] for name in FEATURE_NAMES] == features
            assert answer["features_event_time_ms"] == streamed.event_time_ms
            assert answer["features_age_seconds"] > 0
            assert answer["probability"] == pytest.approx(booster.predict(np.array([features]))[0])
            assert answer["stream_probability"] == streamed.probability
        assert get(port, "/predict/NOT-A-SYMBOL")[0] == 404

        # New ticks: the API follows the topic while it runs.
        before = {s: p.event_time_ms for s, p in latest.items()}
        produce_synthetic(kafka, 400, symbols="4", seed=99)
        consume_to_end(kafka, small_registry, group="api-first")
        symbol = next(iter(latest))
        wait_for(lambda: get(port, f"/predict/{symbol}")[1]["features_event_time_ms"]
                 > before[symbol], 15, "newer features")  # fmt: skip
        status, metrics_text = 0, ""
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            status, metrics_text = r.status, r.read().decode()
        assert status == 200
        assert 'route="/predict/{symbol}",status="200"' in metrics_text
    finally:
        output = stop_process(api)
    assert "tailing" in output
    assert "INFO    uvicorn: Application startup complete." in output
    assert "uvicorn.error" not in output  # uvicorn's name for its every line


def test_a_port_in_use_stops_start_up_with_one_line(small_registry: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "volstream", "api", "--port", str(port),
             "--registry", str(small_registry)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"volstream: error: API port {port} is already in use; choose another"
    )


def test_swagger_ui_renders_with_the_network_blocked(small_registry: Path, tmp_path: Path) -> None:
    """A headless Chromium that can reach only 127.0.0.1 still shows /docs in full."""
    from volstream.testing import http_status, program

    chromium = program("chromium", "chromium-browser", "google-chrome")
    port = free_port()
    api = subprocess.Popen(
        [sys.executable, "-m", "volstream", "api", "--port", str(port),
         "--registry", str(small_registry)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/docs"
        wait_for(lambda: http_status(url) == 200, 60, "the API")
        offline = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
                   "--virtual-time-budget=10000", "--window-size=1400,1400",
                   "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                   "--proxy-server=127.0.0.1:9"]  # fmt: skip
        dom = subprocess.run([*offline, "--dump-dom", url], capture_output=True, text=True,
                             timeout=120, check=True).stdout  # fmt: skip
        assert 'class="swagger-ui' in dom
        assert dom.count('class="opblock-summary-path"') >= 10  # every route rendered
        assert "/predict/{symbol}" in dom
        screenshot = tmp_path / "docs.png"
        subprocess.run([*offline, f"--screenshot={screenshot}", url], capture_output=True,
                       timeout=120, check=True)  # fmt: skip
        assert screenshot.stat().st_size > 30_000  # a rendered page, not a blank one
    finally:
        stop_process(api)
