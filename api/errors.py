"""Error answers: one body builder for both fronts, and FastAPI's handlers that use it.

Every 4xx and 5xx body is ``{"error": kind, "detail": text}`` (:class:`ErrorResponse`),
whether the hot routes or FastAPI answered. The kind is also noted in the ASGI scope,
where the request metrics pick it up.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from volstream.api.metrics import ERROR_KEY
from volstream.api.schemas import ErrorResponse

__all__ = ["Reply", "add_error_handlers", "error_reply", "respond"]

_encode = msgspec.json.Encoder().encode
_KINDS = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, JSON body, and the error kind when it is one."""

    status: int
    body: bytes
    error: str | None = None


def error_reply(status: int, kind: str, detail: str) -> Reply:
    """The one error body: ``{"error": kind, "detail": detail}``."""
    return Reply(status, _encode(ErrorResponse(kind, detail)), kind)


def respond(reply: Reply, request: Request) -> Response:
    """``reply`` as a FastAPI response, its error kind noted for the request metrics."""
    if reply.error:
        request.scope[ERROR_KEY] = reply.error
    return Response(reply.body, reply.status, media_type="application/json")


def add_error_handlers(app: FastAPI) -> None:
    """Validation errors and HTTP exceptions answer with the error body."""
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]


async def _invalid(request: Request, e: RequestValidationError) -> Response:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in e.errors()
    )
    return respond(error_reply(422, "invalid_request", problems), request)


async def _http_error(request: Request, e: HTTPException) -> Response:
    kind = _KINDS.get(e.status_code, f"http_{e.status_code}")
    response = respond(error_reply(e.status_code, kind, str(e.detail)), request)
    if e.headers:
        response.headers.update(e.headers)
    return response
