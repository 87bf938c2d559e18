"""What the evaluator needs of each model version: its label level and its test figures."""

from __future__ import annotations

import logging
import time
from typing import Any, Final

from volstream.errors import ModelError
from volstream.model.registry import ModelRegistry

__all__ = ["VersionBook"]

log = logging.getLogger(__name__)
RETRY_MISSING_SECONDS: Final = 10.0


class VersionBook:
    """Each version's ``model.json``, read once; a missing one is looked for again later.

    A version whose label horizon is not the evaluator's cannot be judged by it:
    it is said once, and treated as missing.
    """

    def __init__(self, registry: ModelRegistry, horizon_seconds: float) -> None:
        self.registry = registry
        self.horizon_seconds = horizon_seconds
        self._found: dict[str, dict[str, Any]] = {}
        self._missing: dict[str, float] = {}

    def level(self, version: str) -> float | None:
        """The version's label level T, or None if it cannot be judged."""
        metadata = self._metadata(version)
        return None if metadata is None else float(metadata["label"]["level"])

    def test_figures(self, version: str, variant: str) -> dict[str, Any] | None:
        """The version's figures on its training test part, for the model or its baseline."""
        metadata = self._metadata(version)
        if metadata is None:
            return None
        figures: dict[str, Any] | None = metadata.get("metrics", {}).get("test", {}).get(variant)
        return figures

    def _metadata(self, version: str) -> dict[str, Any] | None:
        found = self._found.get(version)
        if found is not None:
            return found
        if time.monotonic() < self._missing.get(version, float("-inf")):
            return None
        try:
            metadata = self.registry.get(version).metadata
        except ModelError as e:
            log.warning("cannot judge predictions of %s: %s", version, e)
            self._missing[version] = time.monotonic() + RETRY_MISSING_SECONDS
            return None
        horizon = float(metadata.get("label", {}).get("horizon_seconds", -1))
        if horizon != self.horizon_seconds:
            log.warning("cannot judge predictions of %s: its label horizon is %g s, the "
                        "evaluator's %g s (VOLSTREAM_EVALUATE_HORIZON_SECONDS)",
                        version, horizon, self.horizon_seconds)  # fmt: skip
            self._missing[version] = float("inf")
            return None
        self._found[version] = metadata
        return metadata
