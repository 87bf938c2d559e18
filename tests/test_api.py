"""The API over HTTP, through the ASGI test client: every route and every bad-input class."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
from fastapi.testclient import TestClient

from volstream.api.app import Api, create_app
from volstream.features import FEATURE_NAMES
from volstream.model.registry import ModelRegistry
from volstream.settings import ApiSettings, ModelSettings
from volstream.testing import sample

ROW = dict(zip(FEATURE_NAMES, [0.001, 0.002, 0.003, 0.004, 0.0, 20, 100, 5, 2, 0.1, 1, 10, 0.1],
               strict=True))  # fmt: skip


def make_api(registry: Path, **settings: Any) -> Api:
    fields = {"max_rows": 50, **settings}
    return create_app(ApiSettings(**fields), ModelSettings(registry=registry), kafka=None)


@pytest.fixture
def api(small_registry: Path) -> Api:
    return make_api(small_registry)


@pytest.fixture
def client(api: Api) -> Iterator[TestClient]:
    with TestClient(api.asgi) as client:
        yield client


def booster(registry: Path) -> lgb.Booster:
    return lgb.Booster(model_file=str(ModelRegistry(registry).current().model_file))


def rows(n: int, seed: int = 0) -> list[dict[str, float]]:
    values = np.random.default_rng(seed).normal(size=(n, len(FEATURE_NAMES))) * 0.01
    values[:, 5:7] = np.abs(values[:, 5:7]) * 1e4  # tick counts
    return [dict(zip(FEATURE_NAMES, row.tolist(), strict=True)) for row in values]


@pytest.mark.parametrize("n", [1, 3, 40])  # one row, the fast path's few, LightGBM's batch
def test_predict_scores_like_lightgbm(client: TestClient, small_registry: Path, n: int) -> None:
    body = {"rows": rows(n)}
    response = client.post("/predict", json=body)
    assert response.status_code == 200, response.text
    answers = response.json()["predictions"]
    expected = booster(small_registry).predict(np.array([list(r.values()) for r in body["rows"]]))
    version = ModelRegistry(small_registry).current()
    assert [a["probability"] for a in answers] == pytest.approx(expected, abs=1e-12)
    for answer in answers:
        assert answer["model_version"] == version.name
        assert answer["model_variant"] == "model"
        assert answer["spike"] == (answer["probability"] >= version.metadata["threshold"])


def bad_bodies() -> list[tuple[str, bytes, int, str]]:
    """(case, body, status, words the detail must contain)."""
    missing = {k: v for k, v in ROW.items() if k != "rv_60s"}

    def dumps(value: object) -> bytes:
        return json.dumps(value).encode()

    return [
        ("not json", b"{rows: [", 422, "not valid JSON"),
        ("nan literal", dumps({"rows": [ROW]}).replace(b"0.004", b"NaN"), 422, "not valid JSON"),
        ("infinite", dumps({"rows": [ROW]}).replace(b"0.004", b"1e999"), 422, "rows[0].rv_60s"),
        ("missing feature", dumps({"rows": [missing]}), 422, "missing required field `rv_60s`"),
        ("unknown feature", dumps({"rows": [{**ROW, "extra": 1}]}), 422, "unknown field `extra`"),
        ("wrong type", dumps({"rows": [{**ROW, "imbalance": "high"}]}), 422, "rows[0].imbalance"),
        ("null value", dumps({"rows": [{**ROW, "imbalance": None}]}), 422, "got `null`"),
        ("rows not a list", dumps({"rows": ROW}), 422, "Expected `array`"),
        ("no rows", dumps({"rows": []}), 422, "length >= 1"),
        ("no body", b"", 422, "not valid JSON"),
        ("a list body", dumps([ROW]), 422, "Expected `object`"),
        ("too many rows", dumps({"rows": [ROW] * 51}), 422, "too many rows: 51"),
    ]


@pytest.mark.parametrize(
    ("body", "status", "words"), [c[1:] for c in bad_bodies()], ids=[c[0] for c in bad_bodies()]
)
def test_bad_predict_bodies_get_a_4xx_that_names_the_problem(
    client: TestClient, body: bytes, status: int, words: str
) -> None:
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]


def test_bodies_over_the_limit_get_413_with_or_without_a_length(small_registry: Path) -> None:
    big = json.dumps({"rows": [ROW] * 40}).encode()
    assert len(big) > 4096
    with TestClient(make_api(small_registry, max_body_bytes=4096).asgi) as client:
        declared = client.post("/predict", content=big)
        streamed = client.post("/predict", content=iter([big[:3000], big[3000:]]))  # chunked
        other_route = client.post("/admin/reload", content=big)
    for response in (declared, streamed, other_route):
        assert response.status_code == 413, response.text
        assert "over 4096 bytes" in response.json()["detail"]


def test_no_model_means_503_until_a_reload_succeeds(tmp_path: Path, small_registry: Path) -> None:
    registry = tmp_path / "models"
    with TestClient(make_api(registry).asgi) as client:
        assert client.post("/predict", json={"rows": [ROW]}).status_code == 503
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert any("no model loaded" in reason for reason in ready.json()["reasons"])
        failed = client.post("/admin/reload")
        assert failed.status_code == 422
        assert "train one" in failed.json()["detail"]
        shutil.copytree(small_registry, registry)
        assert client.post("/admin/reload").status_code == 200
        assert client.post("/predict", json={"rows": [ROW]}).status_code == 200


def test_an_api_started_before_any_model_serves_the_first_one_promoted(
    tmp_path: Path, small_registry: Path
) -> None:
    registry = tmp_path / "models"
    model = ModelSettings(registry=registry, follow_seconds=0.1)
    api = create_app(ApiSettings(), model, kafka=None)
    with TestClient(api.asgi) as client:
        assert client.post("/predict", json={"rows": [ROW]}).status_code == 503
        shutil.copytree(small_registry, registry)  # a model is trained and promoted
        deadline = time.monotonic() + 5
        while client.get("/version").json()["model"] is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.post("/predict", json={"rows": [ROW]}).status_code == 200
        metrics = client.get("/metrics").text
        assert sample(metrics, "volstream_model_reloads_total", result="loaded") == 1


def test_reload_switches_variant_and_needs_the_key(small_registry: Path) -> None:
    api = make_api(small_registry, api_key="s3cret")
    with TestClient(api.asgi) as client:
        assert client.post("/admin/reload", json={"variant": "baseline"}).status_code == 401
        wrong = client.post("/admin/reload", json={"variant": "baseline"},
                            headers={"X-API-Key": "guess"})  # fmt: skip
        assert wrong.status_code == 401
        key = {"X-API-Key": "s3cret"}
        reloaded = client.post("/admin/reload", json={"variant": "baseline"}, headers=key)
        assert reloaded.status_code == 200, reloaded.text
        assert reloaded.json()["backend"] == "rule"
        answer = client.post("/predict", json={"rows": [ROW]}).json()["predictions"][0]
        assert answer["model_variant"] == "baseline"
        unknown = client.post("/admin/reload", json={"version": "v0-nope"}, headers=key)
        assert unknown.status_code == 422
        assert "no model version 'v0-nope'" in unknown.json()["detail"]
        still = client.post("/predict", json={"rows": [ROW]}).json()["predictions"][0]
        assert still["model_variant"] == "baseline"  # a failed reload keeps the old model
        bad = client.post("/admin/reload", json={"variant": "forest"}, headers=key)
        assert bad.status_code == 422
        assert "variant" in bad.json()["detail"]
        for back in ({"json": {}}, {}):  # {} or no body: the configured variant again
            client.post("/admin/reload", json={"variant": "baseline"}, headers=key)
            again = client.post("/admin/reload", headers=key, **back)  # type: ignore[arg-type]
            assert again.status_code == 200, again.text
            assert again.json()["variant"] == "model"
            answer = client.post("/predict", json={"rows": [ROW]}).json()["predictions"][0]
            assert answer["model_variant"] == "model"


def test_health_ready_version(client: TestClient, small_registry: Path) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.json() == {"ready": False, "reasons": ["no broker configured"]}
    version = client.get("/version").json()
    assert version["model"]["version"] == ModelRegistry(small_registry).current().name
    assert version["model"]["backend"] == "lightgbm-cpu"
    assert {"lightgbm", "numpy", "fastapi", "python"} <= set(version["libraries"])


def test_unknown_symbol_is_404(client: TestClient) -> None:
    response = client.get("/predict/NOPE-USD")
    assert response.status_code == 404
    assert "NOPE-USD" in response.json()["detail"]


def test_unknown_route_and_wrong_method(client: TestClient) -> None:
    assert client.get("/nowhere").status_code == 404
    assert client.get("/predict").status_code == 405
    assert client.put("/health").json()["error"] == "method_not_allowed"


def test_request_metrics_use_route_templates_and_count_errors(
    client: TestClient, small_registry: Path
) -> None:
    for _ in range(3):
        client.post("/predict", json={"rows": rows(2)})
    client.post("/predict", content=b"nope")
    client.get("/predict/AAA")
    client.get("/predict/BBB")
    client.get("/health")
    text = client.get("/metrics").text
    version = ModelRegistry(small_registry).current().name
    requests = "volstream_api_requests_total"
    assert sample(text, requests, method="POST", route="/predict", status="200") == 3
    assert sample(text, requests, method="POST", route="/predict", status="422") == 1
    assert sample(text, requests, method="GET", route="/predict/{symbol}", status="404") == 2
    assert "AAA" not in text and "BBB" not in text  # never the raw path
    assert sample(text, "volstream_api_errors_total", route="/predict", kind="invalid_body") == 1
    assert sample(text, "volstream_api_errors_total", route="/predict/{symbol}",
                  kind="unknown_symbol") == 2  # fmt: skip
    assert sample(text, "volstream_api_request_duration_seconds_count", route="/predict") == 4
    assert sample(text, "volstream_api_predictions_total", model_version=version,
                  variant="model") == 6  # fmt: skip
    assert sample(text, "volstream_api_prediction_probability_count", model_version=version) == 6
    assert sample(text, "volstream_model_info", version=version, backend="lightgbm-cpu") == 1
    assert sample(text, "volstream_model_load_seconds") > 0
    assert sample(text, "volstream_api_requests_in_flight") == 1  # this scrape


def test_history_pages_newest_first_and_stats_per_model(
    client: TestClient, small_registry: Path
) -> None:
    for n in (1, 2, 3):
        client.post("/predict", json={"rows": rows(n)})
    client.post("/predict", content=b"[]")
    client.post("/admin/reload", json={"variant": "baseline"})
    client.post("/predict", json={"rows": rows(1)})
    version = ModelRegistry(small_registry).current().name
    page = client.get("/metrics/history", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 5
    assert [item["rows"] for item in page["items"]] == [0, 3]  # newest first, one skipped
    assert page["items"][0]["success"] is False
    assert all(item["latency_ms"] > 0 and item["output_bytes"] > 0 for item in page["items"])
    only = client.get("/metrics/history", params={"model": f"{version}/baseline"}).json()
    assert only["total"] == 1 and only["items"][0]["input_bytes"] > 0
    stats = {s["model"]: s for s in client.get("/metrics/stats").json()}
    model = stats[f"{version}/model"]
    assert (model["total"], model["successful"], model["failed"]) == (4, 3, 1)
    assert model["failure_rate"] == pytest.approx(0.25)
    assert model["min_latency_ms"] <= model["average_latency_ms"] <= model["max_latency_ms"]
    assert stats[f"{version}/baseline"]["total"] == 1
    assert client.get("/metrics/history", params={"limit": 0}).status_code == 422


def test_history_is_bounded(small_registry: Path) -> None:
    with TestClient(make_api(small_registry, history_size=3).asgi) as client:
        for _ in range(5):
            client.post("/predict", json={"rows": [ROW]})
        assert client.get("/metrics/history").json()["total"] == 3
        assert client.get("/metrics/stats").json()[0]["total"] == 5  # totals are not bounded


def test_openapi_documents_the_hot_routes(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    predict = schema["paths"]["/predict"]["post"]
    assert predict["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/PredictRequest"
    )
    assert "/predict/{symbol}" in schema["paths"]
    rows = schema["components"]["schemas"]["PredictRequest"]["properties"]["rows"]
    assert (rows["minItems"], rows["maxItems"]) == (1, 50)  # VOLSTREAM_API_MAX_ROWS here
    row = schema["components"]["schemas"]["FeatureRow"]
    assert set(row["required"]) == set(FEATURE_NAMES)
    assert client.get("/docs").status_code == 200


def test_fastapi_routes_answer_as_the_hot_routes_do(api: Api) -> None:
    body = json.dumps({"rows": rows(2)})
    with TestClient(api.asgi) as hot, TestClient(api.fastapi) as documented:
        for path, content in [("/predict", body), ("/predict", "{")]:
            a, b = hot.post(path, content=content), documented.post(path, content=content)
            assert (a.status_code, a.content) == (b.status_code, b.content)
        a, b = hot.get("/predict/X"), documented.get("/predict/X")
        assert (a.status_code, a.content) == (b.status_code, b.content)


def test_docs_pages_load_nothing_from_the_internet(client: TestClient) -> None:
    for page, script in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        html = client.get(page).text
        assert f'/static-offline-docs/{script}"' in html
        assert "https://" not in html  # no CDN, no web fonts
        served = client.get(f"/static-offline-docs/{script}")
        assert served.status_code == 200 and len(served.content) > 500_000
