"""The routes' dependencies, as ``Annotated`` aliases (the FastAPI template's ``deps.py``)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from volstream.api.parts import Api
from volstream.api.service import ModelHolder, PredictionService

__all__ = ["ApiDep", "ModelDep", "ServiceDep", "require_api_key"]


def _api(request: Request) -> Api:
    return request.app.state.api  # type: ignore[no-any-return]


def _model(api: Annotated[Api, Depends(_api)]) -> ModelHolder:
    return api.model


def _service(api: Annotated[Api, Depends(_api)]) -> PredictionService:
    return api.service


ApiDep = Annotated[Api, Depends(_api)]
ModelDep = Annotated[ModelHolder, Depends(_model)]
ServiceDep = Annotated[PredictionService, Depends(_service)]


def require_api_key(api: ApiDep, x_api_key: Annotated[str | None, Header()] = None) -> None:
    """401 unless the request carries the configured X-API-Key (none configured: open)."""
    key = api.settings.api_key
    if key is None:
        return
    expected = key.get_secret_value().encode()
    if x_api_key is None or not secrets.compare_digest(x_api_key.encode(), expected):
        raise HTTPException(401, "a valid X-API-Key header is required",
                            headers={"WWW-Authenticate": "X-API-Key"})  # fmt: skip
