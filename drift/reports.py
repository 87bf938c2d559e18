"""Drift reports on disk: a timestamped HTML report and JSON summary per pass, plus ``latest.*``.

The API serves ``latest.html`` at ``GET /drift/report`` and ``latest.json`` at
``GET /drift``. Files are written to a temporary name and renamed, so a reader
never sees half a report; the oldest timestamped reports beyond
``keep_reports``, or beyond ``keep_megabytes`` in all, are deleted (the newest
is always kept).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from volstream.drift_files import JOB_JSON, LATEST_HTML, LATEST_JSON, REPORT_PREFIX

if TYPE_CHECKING:
    from volstream.drift.check import DriftResult
    from volstream.drift.window import Window

__all__ = ["start_job", "summary", "write_reports"]


def start_job(directory: Path, now: datetime | None = None) -> None:
    """A new scheduled job: the previous run's ``latest.*`` stop being current (its
    timestamped reports stay), and ``job.json`` says when this one started."""
    now = now or datetime.now(UTC)
    directory.mkdir(parents=True, exist_ok=True)
    for name in (LATEST_HTML, LATEST_JSON):
        (directory / name).unlink(missing_ok=True)
    _write_atomically(directory / JOB_JSON, json.dumps({"started_at": now.isoformat()}))


def summary(result: DriftResult, window: Window, finished: datetime, report: str) -> dict[str, Any]:
    """The JSON summary of a pass."""
    return {
        "finished_at": finished.isoformat(),
        "report": report,
        "model_version": result.model_version,
        "dataset_drift": result.dataset_drift,
        "drifted_share": result.drifted_share,
        "drifted_features": sorted(name for name, c in result.features.items() if c.detected),
        "prediction": asdict(result.prediction),
        "features": {name: asdict(column) for name, column in result.features.items()},
        "current": {
            "rows": result.current_rows,
            "first_event_ms": int(window.event_time_ms.min()),
            "last_event_ms": int(window.event_time_ms.max()),
            "model_versions": window.version_counts(),
            "undecodable": window.undecodable,
        },
        "reference_rows": result.reference_rows,
        "thresholds": result.thresholds,
        "calibrated_rows": result.calibrated_rows,
        "seconds": result.seconds,
    }


def write_reports(
    directory: Path,
    result: DriftResult,
    window: Window,
    keep: int,
    now: datetime | None = None,
    keep_bytes: int | None = None,
) -> Path:
    """Write this pass's HTML report and summary; returns the HTML report's path."""
    now = now or datetime.now(UTC)
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{REPORT_PREFIX}{now.strftime('%Y%m%dT%H%M%S%fZ')}"
    html = _titled(result.html, now)
    document = json.dumps(summary(result, window, now, f"{stem}.html"), indent=2)
    for name, text in [(f"{stem}.html", html), (f"{stem}.json", document),
                       (LATEST_HTML, html), (LATEST_JSON, document)]:  # fmt: skip
        _write_atomically(directory / name, text)
    _prune(directory, keep, keep_bytes)
    return directory / f"{stem}.html"


def _titled(html: str, now: datetime) -> str:
    title = f"<title>volstream drift report {now:%Y-%m-%d %H:%M:%S} UTC</title>"
    return html.replace("<head>", f"<head>\n{title}", 1)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _prune(directory: Path, keep: int, keep_bytes: int | None) -> None:
    reports = sorted(directory.glob(f"{REPORT_PREFIX}*.html"))  # oldest first
    kept = reports[max(0, len(reports) - keep) :]
    sizes = [path.stat().st_size + _size(path.with_suffix(".json")) for path in kept]
    while keep_bytes is not None and len(kept) > 1 and sum(sizes) > keep_bytes:
        kept, sizes = kept[1:], sizes[1:]
    for old in reports[: len(reports) - len(kept)]:
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0
