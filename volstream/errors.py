"""The exceptions volstream raises on purpose.

    VolstreamError          every error a user should see as one line
    ├── ConfigError         a setting or option has a bad value
    ├── BrokerError         the Kafka broker cannot be started or reached
    ├── SourceError         a tick source cannot be opened or read
    └── ModelError          a model cannot be trained, found, loaded or used

Library errors are translated at the boundary with ``raise ... from e``: the
command line prints ``str(error)`` and exits non-zero; the chain stays
available to a developer with ``--debug``.
"""

from __future__ import annotations

__all__ = ["BrokerError", "ConfigError", "ModelError", "SourceError", "VolstreamError"]


class VolstreamError(Exception):
    """Base of every volstream error; its message is one line for a user."""


class ConfigError(VolstreamError):
    """A setting, an option or a combination of them is invalid."""


class BrokerError(VolstreamError):
    """The Kafka broker could not be started, reached or asked something."""


class SourceError(VolstreamError):
    """A tick source could not be opened or read."""


class ModelError(VolstreamError):
    """A model cannot be trained, found, loaded or used."""
