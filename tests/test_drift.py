"""Drift passes on in-memory windows: verdicts, summaries, report rotation, the API's routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from volstream.api.app import create_app
from volstream.drift.check import (
    DriftResult,
    check_method,
    known_methods,
    load_reference,
    run_check,
)
from volstream.drift.reports import start_job, write_reports
from volstream.drift.window import Window
from volstream.drift_files import LATEST_HTML, LATEST_JSON
from volstream.errors import ConfigError
from volstream.features import FEATURE_NAMES
from volstream.model.registry import ModelRegistry
from volstream.settings import ApiSettings, DriftSettings, ModelSettings


def window_from(features: np.ndarray, probability: np.ndarray) -> Window:
    n = len(features)
    return Window(features, probability, np.arange(n, dtype=np.int64),
                  np.array(["v1"] * n, dtype=object))  # fmt: skip


@pytest.fixture(scope="module")
def reference(small_registry: Path):  # type: ignore[no-untyped-def]
    return load_reference(ModelRegistry(small_registry).current())


@pytest.fixture(scope="module")
def judged_sample(reference) -> tuple[Window, DriftResult]:  # type: ignore[no-untyped-def]
    """A window sampled from the reference itself, and its (driftless) result."""
    sample = reference.sample(2000, random_state=1)
    window = window_from(sample[list(FEATURE_NAMES)].to_numpy(), sample["probability"].to_numpy())
    return window, run_check(window, reference, "v1", DriftSettings())


def test_a_sample_of_the_reference_does_not_drift(reference) -> None:  # type: ignore[no-untyped-def]
    rows = np.random.default_rng(1).choice(len(reference), 3000, replace=False)
    sample = reference.iloc[rows]
    window = window_from(sample[list(FEATURE_NAMES)].to_numpy(), sample["probability"].to_numpy())
    result = run_check(window, reference, "v1", DriftSettings())
    assert not result.dataset_drift
    assert result.drifted_share == 0
    assert not result.prediction.detected
    assert result.current_rows == 3000
    assert {c.method for c in result.features.values()} == {"Wasserstein distance (normed)"}


def test_scaled_volatility_drifts_and_a_chosen_stat_test_is_used(reference) -> None:  # type: ignore[no-untyped-def]
    features = reference[list(FEATURE_NAMES)].to_numpy()[:3000].copy()
    volatility = [FEATURE_NAMES.index(name) for name in ("rv_10s", "rv_30s", "rv_60s")]
    features[:, volatility] *= 3
    window = window_from(features, reference["probability"].to_numpy()[:3000])
    result = run_check(window, reference, "v1", DriftSettings(method="psi", drift_share=0.2))
    assert all(result.features[name].detected for name in ("rv_10s", "rv_30s", "rv_60s"))
    assert result.features["imbalance"].detected is False
    assert result.dataset_drift  # 3 of 13 >= 0.2
    assert {c.method for c in result.features.values()} == {"psi"}


def test_evidently_still_names_its_stat_tests() -> None:
    """known_methods reads Evidently's private registry: an upgrade that moves it fails here."""
    assert {"psi", "ks", "wasserstein", "jensenshannon"} <= set(known_methods())


def test_an_unknown_stat_test_is_a_config_error() -> None:
    check_method("psi")
    with pytest.raises(ConfigError, match="unknown drift method 'nope'"):
        check_method("nope")


def test_reports_rotate_and_the_api_serves_the_latest(
    judged_sample: tuple[Window, DriftResult], small_registry: Path, tmp_path: Path
) -> None:
    window, result = judged_sample
    start = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    for minute in range(3):
        write_reports(tmp_path, result, window, keep=2, now=start + timedelta(minutes=minute))
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == [
        "drift-20261123T120100000000Z.html", "drift-20261123T120100000000Z.json",
        "drift-20261123T120200000000Z.html", "drift-20261123T120200000000Z.json",
        LATEST_HTML, LATEST_JSON,
    ]  # fmt: skip
    api = create_app(ApiSettings(), ModelSettings(registry=small_registry), None,
                     drift_reports=tmp_path)  # fmt: skip
    with TestClient(api.asgi) as client:
        summary = client.get("/drift").json()
        assert summary["report"] == "drift-20261123T120200000000Z.html"
        assert summary["dataset_drift"] is False
        assert set(summary["features"]) == set(FEATURE_NAMES)
        assert summary["current"]["model_versions"] == {"v1": 2000}
        page = client.get("/drift/report")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "<title>volstream drift report 2026-11-23 12:02:00 UTC</title>" in page.text


def test_the_api_says_when_there_is_no_report_yet(small_registry: Path, tmp_path: Path) -> None:
    api = create_app(ApiSettings(), ModelSettings(registry=small_registry), None,
                     drift_reports=tmp_path / "none")  # fmt: skip
    with TestClient(api.asgi) as client:
        for path in ("/drift", "/drift/report"):
            response = client.get(path)
            assert response.status_code == 404
            assert "is `volstream drift` running?" in response.json()["detail"]


def test_reports_are_kept_within_their_size_the_newest_always(
    judged_sample: tuple[Window, DriftResult], tmp_path: Path
) -> None:
    window, result = judged_sample
    start = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    write_reports(tmp_path, result, window, keep=10, now=start)
    one = sum(p.stat().st_size for p in tmp_path.glob("drift-*"))
    for minute in range(1, 4):
        write_reports(tmp_path, result, window, keep=10, now=start + timedelta(minutes=minute),
                      keep_bytes=int(2.5 * one))  # fmt: skip
    assert sorted(p.name for p in tmp_path.glob("drift-*.html")) == [
        "drift-20261123T120200000000Z.html",
        "drift-20261123T120300000000Z.html",
    ]
    write_reports(tmp_path, result, window, keep=10, now=start + timedelta(minutes=4),
                  keep_bytes=1)  # fmt: skip
    assert [p.name for p in tmp_path.glob("drift-*.html")] == ["drift-20261123T120400000000Z.html"]


def test_a_new_job_never_serves_the_last_runs_report(
    judged_sample: tuple[Window, DriftResult], small_registry: Path, tmp_path: Path
) -> None:
    window, result = judged_sample
    earlier = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    write_reports(tmp_path, result, window, keep=5, now=earlier)  # the previous run's
    start_job(tmp_path, now=earlier + timedelta(hours=1))
    api = create_app(ApiSettings(), ModelSettings(registry=small_registry), None,
                     drift_reports=tmp_path)  # fmt: skip
    with TestClient(api.asgi) as client:
        for path in ("/drift", "/drift/report"):
            response = client.get(path)
            assert response.status_code == 503
            assert response.json()["detail"] == (
                "the drift job started at 2026-11-23T13:00:00+00:00; its first pass is in progress"
            )
        write_reports(tmp_path, result, window, keep=5, now=earlier + timedelta(hours=1.1))
        assert client.get("/drift").json()["finished_at"].startswith("2026-11-23T13:06")
    assert (tmp_path / "drift-20261123T120000000000Z.html").is_file()  # history kept


def test_only_the_adapter_imports_evidently() -> None:
    root = Path(__file__).parents[1]
    packages = ("volstream", "producer", "consumer", "api", "drift", "evaluator")
    sources = [path for package in packages for path in (root / package).rglob("*.py")]
    importers = {
        str(path.relative_to(root))
        for path in sources
        if any(line.lstrip().startswith(("from evidently", "import evidently"))
               for line in path.read_text().splitlines())
    }  # fmt: skip
    assert importers == {"drift/check.py"}
