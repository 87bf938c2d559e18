"""The scheduled drift job (being built)."""
