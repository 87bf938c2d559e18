"""The last drift pass's summary and HTML report, as ``volstream drift`` wrote them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import FileResponse

from volstream.api.deps import ApiDep
from volstream.drift_files import LATEST_HTML, LATEST_JSON

__all__ = ["router"]

_MISSING: dict[int | str, dict[str, Any]] = {
    404: {"description": "No drift pass has written a report yet."}
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
    if not path.is_file():
        raise HTTPException(
            404, f"no drift report in {path.parent} yet: is `volstream drift` running?"
        )
    return path
