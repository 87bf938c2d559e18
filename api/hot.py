"""The hot routes, answered before FastAPI's router sees the request.

FastAPI's routing, dependency and validation layers cost more than a one-row
LightGBM prediction, and cap a route's rate well below what the model allows
(docs/benchmarks.md, API).
``POST /predict`` and ``GET /predict/{symbol}`` are matched here and answered
with the same :class:`~volstream.api.service.PredictionService` the FastAPI routes use;
every other request, ``/docs`` included, goes on to FastAPI.
"""

from __future__ import annotations

import time
from collections.abc import Coroutine
from typing import Any, Final

from volstream.api.errors import Reply, error_reply
from volstream.api.metrics import ERROR_KEY, ASGIApp, Receive, RequestMetrics, Scope, Send
from volstream.api.service import PredictionService

__all__ = ["BodyTooLarge", "HotRoutes", "read_body", "send_reply"]

SYMBOL_PREFIX: Final = "/predict/"
JSON: Final = b"application/json"


class BodyTooLarge(Exception):
    """The request body is over the configured limit."""


class HotRoutes:
    """ASGI front: the prediction routes directly, everything else through ``app``.

    ``app`` is the FastAPI application wrapped in ``metrics``; the hot routes
    record their own request metrics with it.
    """

    def __init__(
        self,
        app: RequestMetrics,
        service: PredictionService,
        max_body_bytes: int,
    ) -> None:
        self._app: ASGIApp = app
        self._metrics = app
        self._service = service
        self._max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path, method = scope["path"], scope["method"]
            if path == "/predict" and method == "POST":
                await self._answer("/predict", scope, send, self.predict(scope, receive))
                return
            symbol = path[len(SYMBOL_PREFIX) :]
            if method == "GET" and path.startswith(SYMBOL_PREFIX) and symbol and "/" not in symbol:
                await self._answer("/predict/{symbol}", scope, send, self._symbol(symbol))
                return
            if _content_length(scope) > self._max_body_bytes:
                await self._answer("unmatched", scope, send, self._too_large())
                return
        await self._app(scope, receive, send)

    async def _answer(
        self, route: str, scope: Scope, send: Send, reply: Coroutine[Any, Any, Reply]
    ) -> None:
        started = time.perf_counter()
        self._metrics.in_flight(+1)
        status, error = 500, None
        try:
            answer = await reply
            status, error = answer.status, answer.error
            await send_reply(scope, send, answer)
        except Exception as e:
            error = type(e).__name__
            raise
        finally:
            self._metrics.in_flight(-1)
            self._metrics.record(
                scope["method"], route, status, error, time.perf_counter() - started
            )

    async def _symbol(self, symbol: str) -> Reply:
        return self._service.predict_symbol(symbol)

    async def _too_large(self) -> Reply:
        return _too_large(self._max_body_bytes)

    async def predict(self, scope: Scope, receive: Receive) -> Reply:
        """``POST /predict``: read the body within the limit, then score it."""
        try:
            body = await read_body(scope, receive, self._max_body_bytes)
        except BodyTooLarge:
            return _too_large(self._max_body_bytes)
        return self._service.predict_body(body)


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body; :class:`BodyTooLarge` as soon as it passes ``limit`` bytes."""
    if _content_length(scope) > limit:
        raise BodyTooLarge
    chunks = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def send_reply(scope: Scope, send: Send, reply: Reply) -> None:
    """Send ``reply`` as a JSON response, noting its error kind for the request metrics."""
    if reply.error:
        scope[ERROR_KEY] = reply.error
    headers = [(b"content-type", JSON), (b"content-length", str(len(reply.body)).encode())]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


def _content_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


def _too_large(limit: int) -> Reply:
    detail = f"the request body is over {limit} bytes (VOLSTREAM_API_MAX_BODY_BYTES)"
    return error_reply(413, "too_large", detail)
