"""What the API does, apart from HTTP: hold the model, score rows, answer for a symbol.

Every prediction route calls :class:`PredictionService`, which returns a
:class:`Reply` (status, JSON bytes, error kind); the hot ASGI routes and the
FastAPI routes only move bytes. Recording history and prediction metrics
happens here too, so both fronts count the same way.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec
import numpy as np

from volstream.api.errors import Reply, error_reply
from volstream.api.history import Invocation, InvocationLog
from volstream.api.latest import LatestPredictions
from volstream.api.metrics import ApiMetrics
from volstream.api.schemas import (
    PredictRequest,
    PredictResponse,
    RowPrediction,
    SymbolPrediction,
)
from volstream.errors import ModelError, VolstreamError
from volstream.features import FEATURE_NAMES
from volstream.model.inference import Placement, Predictor, TimedPredictor, load_predictor
from volstream.model.registry import ModelRegistry
from volstream.predictions import decode_prediction
from volstream.settings import ModelSettings

__all__ = ["ModelHolder", "PredictionService"]

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode
_decode_request = msgspec.json.Decoder(PredictRequest).decode


class ModelHolder:
    """The serving predictor, swapped whole on reload; None while no model could be loaded."""

    def __init__(self, settings: ModelSettings, metrics: ApiMetrics, placement: Placement) -> None:
        self.configured = settings  # what start-up asked for; a reload is applied over it
        self.settings = settings  # what serves now
        self._placement = placement
        self.predictor: Predictor | None = None
        self.problem: str | None = None
        self.loaded_at: datetime | None = None
        self._metrics = metrics
        self._lock = threading.Lock()

    def load(self, settings: ModelSettings | None = None) -> Predictor:
        """Load a model (the settings held, or ``settings``); the old one serves until it is ready.

        Raises :class:`VolstreamError` and keeps serving the old model if loading fails.
        """
        wanted = settings or self.settings
        with self._lock:
            try:
                predictor = TimedPredictor(
                    load_predictor(wanted, self._placement), self._metrics.inference_seconds
                )
            except VolstreamError as e:
                if self.predictor is None:
                    self.problem = f"no model loaded: {e}"
                raise
            self.predictor, self.problem, self.settings = predictor, None, wanted
            self.loaded_at = datetime.now(UTC)
            self._metrics.model.show(predictor.info)
            return predictor

    def follow(self, stop: threading.Event) -> None:
        """Until ``stop``: serve a promoted or rolled-back version within ``follow_seconds``.

        A model pinned (``VOLSTREAM_MODEL_VERSION``, or a reload naming a version) stays.
        Without a model yet, the first one promoted is loaded.
        """
        registry = ModelRegistry(self.settings.registry)
        stamp = registry.state_stamp()
        while not stop.wait(self.settings.follow_seconds):
            now = registry.state_stamp()
            if now == stamp:
                continue
            stamp = now
            current = registry.current_name()
            serving = self.predictor.info.version if self.predictor else None
            if self.settings.version is not None or current is None or current == serving:
                continue
            try:
                predictor = self.load()
            except VolstreamError as e:
                log.error("the registry changed, but %s did not load (%s); still serving %s",
                          current, e, serving)  # fmt: skip
                self._metrics.model.reloads.labels("failed").inc()
                continue
            self._metrics.model.reloads.labels("loaded").inc()
            log.info("registry changed: now serving %s/%s (was %s)",
                     predictor.info.version, predictor.info.variant, serving)  # fmt: skip

    def try_load(self) -> None:
        """Load at start-up; without a model the API still starts and says why it is not ready.

        A bad setting (``ConfigError``, e.g. VOLSTREAM_DEVICE=cuda without a GPU) still
        stops start-up.
        """
        try:
            self.load()
        except ModelError as e:
            log.warning("%s; /predict answers 503 until a model is promoted", e)


class PredictionService:
    """Scores request rows and symbols, records each invocation."""

    def __init__(
        self,
        model: ModelHolder,
        latest: LatestPredictions | None,
        history: InvocationLog,
        metrics: ApiMetrics,
        max_rows: int,
    ) -> None:
        self._model = model
        self._latest = latest
        self._history = history
        self._metrics = metrics
        self._max_rows = max_rows

    def predict_body(self, body: bytes) -> Reply:
        """``POST /predict`` with the request body ``body``."""
        started = time.perf_counter()
        predictor = self._model.predictor
        reply, rows = self._predict_body(predictor, body)
        self._record(predictor, "/predict", started, len(body), reply, rows)
        return reply

    def predict_symbol(self, symbol: str) -> Reply:
        """``GET /predict/{symbol}``."""
        started = time.perf_counter()
        predictor = self._model.predictor
        reply = self._predict_symbol(predictor, symbol)
        self._record(predictor, "/predict/{symbol}", started, 0, reply, 1)
        return reply

    def _predict_body(self, predictor: Predictor | None, body: bytes) -> tuple[Reply, int]:
        if predictor is None:
            return self._unavailable(), 0
        try:
            request = _decode_request(body)
        except msgspec.DecodeError as e:  # ValidationError is one too
            return error_reply(422, "invalid_body", _body_problem(e)), 0
        rows = len(request.rows)
        if rows > self._max_rows:
            detail = f"too many rows: {rows} (at most {self._max_rows}, VOLSTREAM_API_MAX_ROWS)"
            return error_reply(422, "too_many_rows", detail), rows
        values = [msgspec.structs.astuple(row) for row in request.rows]
        problem = _not_finite(values)
        if problem:
            return error_reply(422, "not_finite", problem), rows
        probabilities = _score(predictor, values)
        info = predictor.info
        self._metrics.count_predictions(info, probabilities)
        answers = [
            RowPrediction(float(p), bool(p >= info.threshold), info.version, info.variant)
            for p in probabilities
        ]  # fmt: skip
        return Reply(200, _encode(PredictResponse(answers))), rows

    def _predict_symbol(self, predictor: Predictor | None, symbol: str) -> Reply:
        if predictor is None:
            return self._unavailable()
        raw = self._latest.get(symbol) if self._latest else None
        if raw is None:
            return error_reply(404, "unknown_symbol", f"no recent prediction for {symbol!r}")
        streamed = decode_prediction(raw)
        probability = predictor.predict_one(msgspec.structs.astuple(streamed.features))
        info = predictor.info
        self._metrics.count_predictions(info, (probability,))
        answer = SymbolPrediction(
            symbol=symbol,
            probability=probability,
            spike=probability >= info.threshold,
            model_version=info.version,
            model_variant=info.variant,
            features_event_time_ms=streamed.event_time_ms,
            features_age_seconds=max(0.0, time.time() - streamed.event_time_ms / 1000),
            features=streamed.features,
            stream_probability=streamed.probability,
            stream_model_version=streamed.model_version,
        )
        return Reply(200, _encode(answer))

    def _unavailable(self) -> Reply:
        return error_reply(503, "model_unavailable", self._model.problem or "no model loaded")

    def _record(
        self,
        predictor: Predictor | None,
        route: str,
        started: float,
        input_bytes: int,
        reply: Reply,
        rows: int,
    ) -> None:
        model = f"{predictor.info.version}/{predictor.info.variant}" if predictor else "none"
        call = Invocation(
            model=model,
            route=route,
            time_ms=int(time.time() * 1000),
            success=reply.status < 400,
            latency_ms=(time.perf_counter() - started) * 1000,
            input_bytes=input_bytes,
            output_bytes=len(reply.body),
            rows=rows,
        )
        self._history.record(call)


def _body_problem(error: msgspec.DecodeError) -> str:
    message = str(error)
    if isinstance(error, msgspec.ValidationError):
        return message.replace("`$.", "`").replace("`$`", "the body")
    return f"the body is not valid JSON: {message}"


def _score(predictor: Predictor, rows: list[tuple[float, ...]]) -> Sequence[float]:
    if len(rows) == 1:  # most requests: no NumPy on the way
        return (predictor.predict_one(rows[0]),)
    return predictor.predict_proba(np.array(rows)).tolist()  # type: ignore[no-any-return]


def _not_finite(rows: list[tuple[float, ...]]) -> str | None:
    for i, row in enumerate(rows):
        if not all(map(math.isfinite, row)):
            column = next(c for c, value in enumerate(row) if not math.isfinite(value))
            return f"rows[{i}].{FEATURE_NAMES[column]} is not a finite number"
    return None
