"""``volstream drift``: drift passes on a schedule, or one with ``--once``."""

from __future__ import annotations

import ctypes
import gc
import logging
import threading
import time
from typing import Final

from prometheus_client import CollectorRegistry, push_to_gateway

from volstream.drift.check import (
    DriftResult,
    check_method,
    load_calibration,
    load_reference,
    run_check,
)
from volstream.drift.metrics import DriftMetrics, build_drift_metrics
from volstream.drift.reports import start_job, write_reports
from volstream.drift.window import read_window
from volstream.errors import VolstreamError
from volstream.metrics import serve_metrics
from volstream.model.registry import ModelRegistry, ModelVersion
from volstream.model.serving import wait_for_model
from volstream.settings import DriftSettings, KafkaSettings, ModelSettings

__all__ = ["run", "run_pass"]

log = logging.getLogger(__name__)
RETRY_SECONDS: Final = 30.0  # a failed pass is tried again this soon (or at the interval)
PUSH_JOB = "volstream_drift"


def run(
    kafka: KafkaSettings,
    settings: DriftSettings,
    model: ModelSettings,
    stop: threading.Event,
    once: bool = False,
    pushgateway: str | None = None,
    registry: CollectorRegistry | None = None,
) -> None:
    """Pass after pass every ``interval_seconds`` until ``stop``; with ``once``, one pass.

    Start-up checks (the stat test, the serving model's reference) fail with
    one line; on a schedule, the job waits for a first model instead. Later, a
    failed pass is logged and counted, and tried again after ``RETRY_SECONDS`` (a
    broker that did not answer once should not cost a whole interval); with
    ``once`` it is an error.
    """
    check_method(settings.method)
    if once:
        _check_model(model)
    elif wait_for_model(lambda: _check_model(model), stop, every=1.0) is None:
        return
    registry = registry or CollectorRegistry()
    metrics = build_drift_metrics(registry)
    if not once:
        start_job(settings.reports_dir)
        log.info("drift: a pass every %g s", settings.interval_seconds)
    with serve_metrics(registry, 0 if once else settings.metrics_port, "drift"):
        while once or not stop.is_set():
            wait = settings.interval_seconds
            try:
                run_pass(kafka, settings, model, metrics)
            except Exception as e:
                if once:
                    raise
                wait = min(RETRY_SECONDS, wait)
                log.error("drift: the pass failed: %s; trying again in %g s", _describe(e), wait)
            _give_back_memory()
            if once or stop.wait(wait):
                break
    if pushgateway:
        _push(pushgateway, registry)


def _check_model(model: ModelSettings) -> ModelVersion:
    """The serving version, its reference and calibration readable (:class:`ModelError` if not)."""
    serving = ModelRegistry(model.registry).serving(model.version)
    load_reference(serving)
    load_calibration(serving)
    return serving


def run_pass(
    kafka: KafkaSettings, settings: DriftSettings, model: ModelSettings, metrics: DriftMetrics
) -> DriftResult | None:
    """One pass; None when it was skipped for too little data."""
    started = time.perf_counter()
    try:
        version = ModelRegistry(model.registry).serving(model.version)
        reference = load_reference(version)
        window = read_window(kafka, settings)
        if len(window) < settings.min_rows:
            log.warning("drift: skipped: %d predictions in the window, fewer than %d "
                        "(VOLSTREAM_DRIFT_MIN_ROWS)", len(window), settings.min_rows)  # fmt: skip
            metrics.skipped(len(window))
            return None
        result = run_check(window, reference, version.name, settings, load_calibration(version))
        report = write_reports(settings.reports_dir, result, window, settings.keep_reports,
                               keep_bytes=settings.keep_megabytes * 2**20)  # fmt: skip
        metrics.publish(result, time.time())
    except Exception:
        metrics.failures.inc()
        raise
    finally:
        metrics.run_seconds.set(time.perf_counter() - started)
    drifted = [name for name, column in result.features.items() if column.detected]
    log.info(
        "drift: %d of %d features drifted (%s), dataset drift %s, prediction score %.3f "
        "(threshold %.3f); %d rows against %d, %.1f s; thresholds %s; %s",
        len(drifted), len(result.features), ", ".join(drifted) or "none",
        "yes" if result.dataset_drift else "no", result.prediction.score,
        result.prediction.threshold, result.current_rows, result.reference_rows,
        time.perf_counter() - started, result.thresholds, report,
    )  # fmt: skip
    return result


def _give_back_memory() -> None:
    """Return a pass's freed memory to the system: the window, Evidently's report and its
    figures come and go every pass, and glibc keeps freed heap pages until told otherwise."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim this way
        pass


def _push(url: str, registry: CollectorRegistry) -> None:
    try:
        push_to_gateway(url, job=PUSH_JOB, registry=registry, timeout=10)
    except OSError as e:
        msg = f"cannot push the drift metrics to {url}: {e}"
        raise VolstreamError(msg) from e
    log.info("drift: metrics pushed to %s (job %s)", url, PUSH_JOB)


def _describe(error: Exception) -> str:
    return str(error) if isinstance(error, VolstreamError) else f"{type(error).__name__}: {error}"
