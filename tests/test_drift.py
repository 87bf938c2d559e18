"""Drift passes on in-memory windows: verdicts, summaries, report rotation, the API's routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from volstream.api.app import create_app
from volstream.drift.calibration import Calibration, calibrate, normed_wasserstein
from volstream.drift.check import (
    COLUMNS,
    DriftResult,
    check_method,
    compute_drift,
    known_methods,
    load_calibration,
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
    assert {c.method for c in result.features.values()} == {"PSI"}


def test_the_calibration_scores_as_evidently_does(reference) -> None:  # type: ignore[no-untyped-def]
    """The null scores are computed apart from Evidently, fast; they must be its own score."""
    current = reference.iloc[:3000].copy()
    current[["rv_10s", "spread_bps"]] *= [2.0, 0.5]
    columns, _ = compute_drift(reference, current, "wasserstein", dict.fromkeys(COLUMNS), 0.5)
    for name in COLUMNS:
        ours = normed_wasserstein(reference[name].to_numpy(), current[name].to_numpy())
        assert ours == pytest.approx(columns[name].score, rel=1e-9, abs=1e-12), name
    assert columns["rv_10s"].score > 0.1 > columns["imbalance"].score


def test_a_calibration_is_sized_for_the_live_window_and_its_halves() -> None:
    rng = np.random.default_rng(3)
    history = pd.DataFrame({"x": np.cumsum(rng.normal(size=20_000)) * 0.01})  # autocorrelated
    reference = history.sample(5000, random_state=1)
    calibration = calibrate(history, reference, window_rows=8000, min_rows=1000)
    assert calibration is not None
    assert calibration.sizes == [1000, 2000, 4000, 8000]  # each fits twice in 20,000 rows
    assert [len(scores) for scores in calibration.scores["x"]] == [40, 40, 40, 40]
    assert calibration.size_for(5000) == 4000  # the largest not above: a higher bar
    assert calibration.size_for(500) == 1000 and calibration.size_for(10**6) == 8000
    assert calibrate(history, reference, window_rows=16_000, min_rows=12_000) is None


def test_a_threshold_is_the_fitted_quantile_and_its_exceedance_agrees() -> None:
    scores = np.exp(np.random.default_rng(4).normal(np.log(0.1), 0.5, 40)).tolist()
    calibration = Calibration(sizes=[1000], scores={"x": [scores]}, window_rows=1000,
                              history_rows=10_000)  # fmt: skip
    threshold = calibration.threshold("x", 1000, 0.99)
    logs = np.log(scores)
    assert threshold == pytest.approx(np.exp(logs.mean() + 2.3263 * logs.std(ddof=1)), rel=1e-4)
    assert threshold > max(scores) > np.median(scores)
    assert calibration.exceedance("x", 1000, threshold) == pytest.approx(0.01)
    assert calibration.exceedance("x", 1000, 10 * threshold) < 1e-6


def test_a_trained_version_stores_its_calibration(small_registry: Path) -> None:
    calibration = load_calibration(ModelRegistry(small_registry).current())
    assert calibration is not None
    assert set(calibration.scores) == set(COLUMNS)
    assert calibration.sizes[0] >= DriftSettings().min_rows
    assert calibration.sizes[-1] <= calibration.window_rows


def test_a_calibrated_pass_judges_by_the_calibration(  # type: ignore[no-untyped-def]
    reference, small_registry: Path
) -> None:
    calibration = load_calibration(ModelRegistry(small_registry).current())
    assert calibration is not None
    features = reference[list(FEATURE_NAMES)].to_numpy()[:3000].copy()
    features[:, FEATURE_NAMES.index("spread_bps")] *= 3
    window = window_from(features, reference["probability"].to_numpy()[:3000])
    result = run_check(window, reference, "v1", DriftSettings(), calibration)
    assert result.thresholds.startswith("calibrated: the 0.99 quantile")
    assert result.calibrated_rows == calibration.size_for(3000)
    for name, column in [*result.features.items(), ("probability", result.prediction)]:
        assert column.method == "Wasserstein distance (normed)"
        assert column.threshold == pytest.approx(calibration.threshold(name, 3000, 0.99))
        assert column.detected == (column.score >= column.threshold), name
        assert column.exceedance == pytest.approx(calibration.exceedance(name, 3000, column.score))
    assert result.features["spread_bps"].detected
    assert result.features["spread_bps"].exceedance < 0.01


def test_a_chosen_test_or_threshold_overrides_the_calibration(  # type: ignore[no-untyped-def]
    judged_sample, reference, small_registry: Path
) -> None:
    calibration = load_calibration(ModelRegistry(small_registry).current())
    window, uncalibrated = judged_sample
    assert uncalibrated.thresholds.startswith("Evidently's defaults: model v1 has no drift")
    result = run_check(window, reference, "v1", DriftSettings(threshold=0.3), calibration)
    assert result.thresholds.startswith("fixed")
    assert {c.threshold for c in result.features.values()} == {0.3}
    assert all(c.exceedance is None for c in result.features.values())


def test_the_streams_warm_up_is_left_out_of_a_window() -> None:
    times = np.arange(0, 120_000, 1000, dtype=np.int64) + 1_000_000
    window = Window(np.zeros((len(times), len(FEATURE_NAMES))), np.zeros(len(times)), times,
                    np.array(["v1"] * len(times), dtype=object), undecodable=2)  # fmt: skip
    warm = window.after_warm_up()
    assert warm.event_time_ms.min() == 1_060_000 and len(warm) == 60
    assert warm.undecodable == 2
    assert len(window.newest(10)) == 10 and window.newest(10).event_time_ms.min() == 1_110_000


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
