"""Model administration; every route needs the X-API-Key when one is configured."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException

from volstream.api.deps import ModelDep, require_api_key
from volstream.api.schemas import ModelDescription, ReloadRequest, describe_model
from volstream.errors import VolstreamError
from volstream.settings import ModelSettings

__all__ = ["router"]

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[Depends(require_api_key)],
    responses={401: {"description": "Missing or wrong X-API-Key."}},
)


@router.post(
    "/reload",
    responses={422: {"description": "The model cannot be loaded; the old one still serves."}},
)
async def reload(model: ModelDep, wanted: ReloadRequest | None = None) -> ModelDescription:
    """Serve another model (a newly promoted one, a pinned version, the baseline) now."""
    wanted = wanted or ReloadRequest(version=None, variant=None)
    try:
        model.load(_reloaded(model.configured, wanted))
    except VolstreamError as e:
        raise HTTPException(422, str(e)) from e
    described = describe_model(model)
    assert described is not None  # noqa: S101 - load() succeeded
    return described


def _reloaded(configured: ModelSettings, wanted: ReloadRequest) -> ModelSettings:
    """The start-up settings with what the reload asks for: ``{}`` is the configured
    variant of the registry's current version (the way back from the baseline)."""
    return configured.model_copy(
        update={"version": wanted.version, "variant": wanted.variant or configured.variant}
    )
