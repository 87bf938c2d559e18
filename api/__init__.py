"""The prediction API (being built)."""
