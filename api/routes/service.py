"""Liveness, readiness and versions."""

from __future__ import annotations

import platform
from importlib.metadata import version as installed_version

from fastapi import APIRouter, Response

import volstream
from volstream.api.deps import ApiDep, ModelDep
from volstream.api.schemas import Readiness, VersionInfo, describe_model

__all__ = ["router"]

router = APIRouter(tags=["service"])

_LIBRARIES = ("lightgbm", "numpy", "msgspec", "fastapi", "uvicorn", "confluent-kafka")


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"model": Readiness}})
async def ready(response: Response, api: ApiDep) -> Readiness:
    """Readiness: a model is loaded and the broker answers."""
    reasons = []
    if api.model.predictor is None:
        reasons.append(api.model.problem or "no model loaded")
    if api.latest is None:
        reasons.append("no broker configured")
    elif api.latest.broker_problem:
        reasons.append(api.latest.broker_problem)
    response.status_code = 503 if reasons else 200
    return Readiness(ready=not reasons, reasons=reasons)


@router.get("/version")
async def version(model: ModelDep) -> VersionInfo:
    """API version, serving model, library versions."""
    return VersionInfo(
        api_version=volstream.__version__,
        model=describe_model(model),
        libraries={
            "python": platform.python_version(),
            **{name: installed_version(name) for name in _LIBRARIES},
        },
    )
