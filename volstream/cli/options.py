"""Command-line options that map one-to-one to settings fields."""

from __future__ import annotations

from pydantic_settings import BaseSettings


def described(settings_cls: type[BaseSettings], field: str) -> str:
    """Help text for the option of ``field``: its description, variable and default."""
    info = settings_cls.model_fields[field]
    prefix = settings_cls.model_config.get("env_prefix", "")
    default = info.get_default(call_default_factory=True)
    shown = "" if default in (None, [], {}) else f", default {default}"
    text = info.description or ""
    return f"{text} (env {prefix}{field.upper()}{shown})".strip()
