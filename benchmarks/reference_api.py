"""The reference the API benchmark compares against: a plain FastAPI endpoint.

A pydantic body model, uvicorn's defaults (access log included) and
``Booster.predict`` on a one-row array: what a first version of the API would
look like. Run by ``benchmarks/bench_api.py``:

    VOLSTREAM_BENCH_MODEL=path/model.txt uvicorn benchmarks.reference_api:app --port 8100
"""

from __future__ import annotations

import os

import lightgbm as lgb
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel, create_model

from volstream.features import FEATURE_NAMES

booster = lgb.Booster(model_file=os.environ["VOLSTREAM_BENCH_MODEL"])
threshold = float(os.environ.get("VOLSTREAM_BENCH_THRESHOLD", "0.5"))
FeatureRow = create_model("FeatureRow", **dict.fromkeys(FEATURE_NAMES, (float, ...)))  # type: ignore[call-overload]


class PredictRequest(BaseModel):
    rows: list[FeatureRow]  # type: ignore[valid-type]


app = FastAPI()


@app.post("/predict")
async def predict(request: PredictRequest) -> dict[str, object]:
    features = np.array([[getattr(row, name) for name in FEATURE_NAMES] for row in request.rows])
    probabilities = booster.predict(features)
    return {"predictions": [{"probability": float(p), "spike": bool(p >= threshold)}
                            for p in probabilities]}  # fmt: skip
