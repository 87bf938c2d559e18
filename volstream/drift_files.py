"""The drift job's files, as the drift job writes them and the API serves them."""

from __future__ import annotations

from typing import Final

__all__ = ["JOB_JSON", "LATEST_HTML", "LATEST_JSON", "REPORT_PREFIX"]

LATEST_HTML: Final = "latest.html"  # the last pass's Evidently report
LATEST_JSON: Final = "latest.json"  # ... and its summary
REPORT_PREFIX: Final = "drift-"  # drift-<UTC time>.html / .json, one pair per pass
JOB_JSON: Final = "job.json"  # the running job: {"started_at": ISO time}, written at its start
