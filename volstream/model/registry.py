"""The model registry: a directory of versions and a record of which one serves.

    models/
      registry.json          {"current": "v...", "history": ["v1", ...], "shadow": "v..."}
      v20261123-141500-3fa2c1/
        model.txt            LightGBM text model
        model.json           metadata (see docs/model.md)
        reference.parquet    a sample of training features and predictions, for drift
        drift_null.json      drift scores of normal windows of the history (calibration)

``history`` lists the promotions, oldest first; rollback steps back one.
``shadow`` names a challenger scored beside the current version, never served.
Files only, never a pickle; registry.json is replaced atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from volstream.errors import ModelError
from volstream.features import FEATURE_NAMES

__all__ = ["ModelRegistry", "ModelVersion"]

MODEL_FILE = "model.txt"
METADATA_FILE = "model.json"
REFERENCE_FILE = "reference.parquet"
DRIFT_NULL_FILE = "drift_null.json"
REGISTRY_FILE = "registry.json"


@dataclass(frozen=True)
class ModelVersion:
    """One version directory and its metadata."""

    name: str
    path: Path
    metadata: dict[str, Any]

    @property
    def model_file(self) -> Path:
        """The LightGBM text model."""
        return self.path / MODEL_FILE

    @property
    def reference_file(self) -> Path:
        """The drift reference sample."""
        return self.path / REFERENCE_FILE

    @property
    def drift_null_file(self) -> Path:
        """The drift scores of normal windows, which calibrate the thresholds."""
        return self.path / DRIFT_NULL_FILE

    def check_features(self, model_names: Iterable[str] | None = None) -> None:
        """Refuse a version trained on other features than the engine computes.

        ``model_names`` are the model file's own (LightGBM's); else the metadata's.
        """
        names = self.metadata.get("feature_names") if model_names is None else list(model_names)
        if names != list(FEATURE_NAMES):
            msg = (
                f"model {self.name} was trained on features {names}, but this engine computes "
                f"{list(FEATURE_NAMES)}: retrain it with `volstream train`"
            )
            raise ModelError(msg)


class ModelRegistry:
    """Versions under ``root`` and the one that serves."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def versions(self) -> list[ModelVersion]:
        """Every version, oldest first."""
        if not self.root.is_dir():
            return []
        found = [
            self._read(path) for path in self.root.iterdir() if (path / METADATA_FILE).is_file()
        ]
        return sorted(found, key=lambda v: (str(v.metadata.get("created_at", "")), v.name))

    def get(self, name: str) -> ModelVersion:
        """Version ``name`` (or ``current``)."""
        if name == "current":
            return self.current()
        path = self.root / name
        if not (path / METADATA_FILE).is_file():
            known = ", ".join(v.name for v in self.versions()) or "none"
            msg = f"no model version {name!r} in {self.root} (known: {known})"
            raise ModelError(msg)
        return self._read(path)

    def current(self) -> ModelVersion:
        """The version that serves."""
        name = self._state().get("current")
        if not name:
            msg = f"no current model in {self.root}: train one with `volstream train`"
            raise ModelError(msg)
        return self.get(name)

    def serving(self, pinned: str | None) -> ModelVersion:
        """The ``pinned`` version, or the current one (``VOLSTREAM_MODEL_VERSION`` unset)."""
        return self.get(pinned) if pinned else self.current()

    def current_name(self) -> str | None:
        """The name of the version that serves, if any."""
        name = self._state().get("current")
        return str(name) if name else None

    def shadow_name(self) -> str | None:
        """The challenger scored in shadow, if any."""
        name = self._state().get("shadow")
        return str(name) if name else None

    def set_shadow(self, name: str | None) -> ModelVersion | None:
        """Score ``name`` in shadow beside the current version (None: stop)."""
        state = self._state()
        version = self.get(name) if name else None
        if version is not None and version.name == state.get("current"):
            msg = f"{version.name} is the current version; shadow another one"
            raise ModelError(msg)
        state.pop("shadow", None)
        self._write_state({**state, **({"shadow": version.name} if version else {})})
        return version

    def state_stamp(self) -> tuple[int, int] | None:
        """Changes whenever registry.json is replaced: a cheap check for services that follow."""
        try:
            stat = (self.root / REGISTRY_FILE).stat()
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def history(self) -> list[str]:
        """Promotions, oldest first."""
        return list(self._state().get("history", []))

    def add(self, name: str, write: Any) -> ModelVersion:
        """Create version ``name`` by calling ``write(directory)``; nothing is left on failure."""
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / name
        if final.exists():
            msg = f"model version {name} already exists"
            raise ModelError(msg)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=self.root))
        try:
            write(staging)
            staging.rename(final)
        except BaseException:
            for child in staging.iterdir():
                child.unlink()
            staging.rmdir()
            raise
        return self._read(final)

    def promote(self, name: str) -> ModelVersion:
        """Make ``name`` the current version."""
        version = self.get(name)
        history = self.history()
        if history and history[-1] == name:
            return version
        self._write_state(self._keep_shadow(name, {"current": name, "history": [*history, name]}))
        return version

    def rollback(self) -> ModelVersion:
        """Serve the previously promoted version again."""
        history = self.history()
        if len(history) < 2:
            msg = "nothing to roll back to: fewer than two promotions in the history"
            raise ModelError(msg)
        previous = history[-2]
        self.get(previous)
        state = {"current": previous, "history": history[:-1]}
        self._write_state(self._keep_shadow(previous, state))
        return self.get(previous)

    def _keep_shadow(self, current: str, state: dict[str, Any]) -> dict[str, Any]:
        """The new state, with the shadow kept unless it is now the current version."""
        shadow = self.shadow_name()
        return {**state, "shadow": shadow} if shadow and shadow != current else state

    def _state(self) -> dict[str, Any]:
        path = self.root / REGISTRY_FILE
        if not path.is_file():
            return {}
        try:
            state: dict[str, Any] = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            msg = f"{path} is not valid JSON: {e}"
            raise ModelError(msg) from e
        return state

    def _write_state(self, state: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".registry-", dir=self.root)
        with os.fdopen(fd, "w") as file:
            json.dump(state, file, indent=2)
        os.replace(temporary, self.root / REGISTRY_FILE)

    @staticmethod
    def _read(path: Path) -> ModelVersion:
        try:
            metadata = json.loads((path / METADATA_FILE).read_text())
        except (OSError, json.JSONDecodeError) as e:
            msg = f"cannot read {path / METADATA_FILE}: {e}"
            raise ModelError(msg) from e
        return ModelVersion(path.name, path, metadata)
