"""The last drift pass's summary and HTML report, as ``volstream drift`` wrote them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import FileResponse

from volstream.api.deps import ApiDep
from volstream.drift_files import JOB_JSON, LATEST_HTML, LATEST_JSON

__all__ = ["router"]

_MISSING: dict[int | str, dict[str, Any]] = {
    404: {"description": "No drift job has written a report."},
    503: {"description": "The drift job has started; its first pass is not done yet."},
}
router = APIRouter(prefix="/drift", tags=["drift"], responses=_MISSING)


@router.get("")
async def drift_summary(api: ApiDep) -> Response:
    """The last drift pass's JSON summary (see docs/drift.md)."""
    path = _latest(api.drift_reports / LATEST_JSON)
    return Response(path.read_bytes(), media_type="application/json")


@router.get("/report", response_class=FileResponse)
async def drift_report(api: ApiDep) -> FileResponse:
    """The last drift pass's Evidently HTML report."""
    return FileResponse(_latest(api.drift_reports / LATEST_HTML), media_type="text/html")


def _latest(path: Path) -> Path:
    if path.is_file():
        return path
    job = path.parent / JOB_JSON
    if job.is_file():
        started = json.loads(job.read_text())["started_at"]
        raise HTTPException(
            503, f"the drift job started at {started}; its first pass is in progress"
        )
    raise HTTPException(404, f"no drift report in {path.parent} yet: is `volstream drift` running?")
