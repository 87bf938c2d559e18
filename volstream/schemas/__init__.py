"""JSON Schema files of the tick, prediction and outcome documents, generated from the structs.

``make schemas`` (``python -m volstream.schemas``) rewrites them; a test fails
when a committed file differs from what the structs generate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from volstream.outcomes import Outcome
from volstream.predictions import Prediction
from volstream.ticks import Tick

SCHEMA_DIR = Path(__file__).parent
DOCUMENTS: dict[str, type[msgspec.Struct]] = {
    "tick": Tick,
    "prediction": Prediction,
    "outcome": Outcome,
}


def generate(name: str) -> dict[str, Any]:
    """The JSON Schema of document ``name`` ("tick", "prediction" or "outcome")."""
    struct = DOCUMENTS[name]
    schema = msgspec.json.schema(struct)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://volstream.dev/schemas/{name}.schema.json",
        "title": struct.__name__,
        **schema,
    }


def render(name: str) -> str:
    """The file text for document ``name``."""
    return json.dumps(generate(name), indent=2, sort_keys=True) + "\n"


def path(name: str) -> Path:
    """Where the schema file of document ``name`` lives."""
    return SCHEMA_DIR / f"{name}.schema.json"


def write_all() -> None:
    """Rewrite every schema file from its struct."""
    for document in DOCUMENTS:
        path(document).write_text(render(document))
